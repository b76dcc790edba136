"""Routes for the night's results: the paged table, the chart series, CSV/Excel downloads, one-off detection."""
from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from skyseg.serve.detect import UploadRunner
from skyseg.serve.exports import row_to_json, rows_to_csv, rows_to_xlsx
from skyseg.serve.live_pipeline import LivePipeline
from skyseg.serve.routes_live import NO_STORE, _int_param, error
from skyseg.serve.uploads import receive_file

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _attachment(suffix: str) -> dict[str, str]:
    name = f"skyseg-results-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}{suffix}"
    return {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}


def results_routes(pipeline: LivePipeline, uploads: UploadRunner) -> list[Route]:
    state = pipeline.state

    async def results(request: Request) -> Response:
        per_page = _int_param(request, "per_page", 25, 1, 500) or 25
        page = _int_param(request, "page", 0, 0, 1 << 30) or 0
        total, rows = state.page(page, per_page)
        return JSONResponse({"total": total, "page": page, "per_page": per_page,
                             "pages": max(1, -(-total // per_page)), "rows": [row_to_json(k) for k in rows]},
                            headers=NO_STORE)

    async def series(request: Request) -> Response:
        points = state.series(_int_param(request, "max", 1500, 10, 20000) or 1500)
        return JSONResponse({"points": [{"seq": s, "received": round(t, 3), "sky": sky, "latency_ms": lat,
                                         "cloud": cloud} for s, t, sky, lat, cloud in points]}, headers=NO_STORE)

    def results_csv(request: Request) -> Response:
        return Response(rows_to_csv(state.all_rows()), media_type="text/csv; charset=utf-8",
                        headers=_attachment(".csv"))

    def results_xlsx(request: Request) -> Response:
        return Response(rows_to_xlsx(state.all_rows()), media_type=XLSX, headers=_attachment(".xlsx"))

    async def detect(request: Request) -> Response:
        folder = pipeline.save_dir / "uploads"
        received = await receive_file(request.headers, request.stream(), folder, pipeline.config.max_upload_bytes)
        return JSONResponse(await run_in_threadpool(uploads.detect, received))

    async def upload_preview(request: Request) -> Response:
        data = uploads.preview(request.path_params["upload_id"])
        if data is None:
            return error(404, "no such upload preview (only the last few are kept; the files are in the save dir)")
        return Response(data, media_type="image/jpeg", headers=NO_STORE)

    return [
        Route("/api/results", results),
        Route("/api/series", series),
        Route("/api/results.csv", results_csv),
        Route("/api/results.xlsx", results_xlsx),
        Route("/api/detect", detect, methods=["POST"]),
        Route("/api/uploads/{upload_id:str}.jpg", upload_preview),
    ]
