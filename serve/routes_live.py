"""Routes for the live side: status, the push feed, the latest frame and mask, thresholds and the model."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from skyseg.runtime.errors import SkysegError
from skyseg.serve.detect import UploadRunner
from skyseg.serve.exports import row_to_json
from skyseg.serve.live_pipeline import LivePipeline
from skyseg.serve.live_state import VIEWS, encode_mask_png
from skyseg.serve.live_model import open_checked
from skyseg.serve.uploads import MODEL_FAMILIES, UploadError, check_content, classify, receive_file, safe_name

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


def error(status: int, message: str) -> JSONResponse:
    """Every refusal: an HTTP 4xx status and one sentence."""
    return JSONResponse({"error": message}, status_code=status)


def rss_mb() -> float | None:
    """This process's resident memory in MB (Linux), for the status line and the bench."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def status_json(pipeline: LivePipeline) -> dict[str, Any]:
    state, model = pipeline.state, pipeline.model
    run_state, run_error = pipeline.run_state()
    latest = state.latest()
    result = latest.record.result if latest is not None else None
    return {
        "frames": state.frames, "errors": state.errors, "fps": round(state.live_fps(), 2),
        "run_fps": round(pipeline.run_fps(), 3), "conf": model.conf, "iou": model.iou, "model": model.model_name,
        "model_key": model.model_key, "backend": model.backend_kind, "source": pipeline.run_config.source,
        "source_description": pipeline.source_description, "state": run_state, "error": run_error,
        "latest": latest.version if latest is not None else 0,
        "sky_fraction": round(result.sky_fraction, 4) if result is not None else None,
        "instances": len(result) if result is not None else None,
        "latency_ms": round(result.latency_ms, 1) if result is not None else None,
        "time": time.time(), "rows": state.seq, "uploads": state.uploads,
        "static_mask_frames": state.static_frames(), "rss_mb": rss_mb(), "save_dir": str(pipeline.save_dir),
        "max_upload_mb": pipeline.config.max_upload_mb, "uptime_s": round(time.time() - state.started, 1),
        "instance": state.started,
    }


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:  # '³' is a digit int() refuses
        raise UploadError(400, f"query parameter {name}={raw!r} must be a whole number from {low} to {high}")
    return int(raw)


async def _json_body(request: Request, example: str) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        # a web page can send text/plain or a form to any site without a CORS preflight, but not application/json
        raise UploadError(415, f"send Content-Type: application/json (got {media_type or 'none'}) with a JSON object "
                               f"such as {example}")
    try:
        body = await request.json()
    except ValueError:
        raise UploadError(400, f"send a JSON object such as {example}") from None
    if not isinstance(body, dict):
        raise UploadError(400, f"send a JSON object such as {example}")
    return body


def live_routes(pipeline: LivePipeline, uploads: UploadRunner, should_exit: Callable[[], bool]) -> list[Route]:
    state, model, config = pipeline.state, pipeline.model, pipeline.config
    switching = threading.Lock()

    async def status(request: Request) -> Response:
        return JSONResponse(status_json(pipeline), headers=NO_STORE)

    async def events(request: Request) -> Response:
        since = _int_param(request, "since", state.seq, 0, 1 << 62)
        if since is not None and since > state.seq:  # a page from before a restart: send what this run has
            since = 0
        period = 1.0 / config.push_hz

        async def stream() -> AsyncIterator[bytes]:
            seq, last_version, last_status = since or 0, -1, 0.0
            yield b"retry: 2000\n\n"
            while not should_exit():
                rows = state.rows_since(seq, 100)
                if rows:
                    seq = rows[-1].seq
                    yield _sse("rows", [row_to_json(k) for k in rows])
                latest = state.latest()
                version = latest.version if latest is not None else 0
                now = time.monotonic()
                if version != last_version or now - last_status >= 2.0:
                    last_version, last_status = version, now
                    yield _sse("status", status_json(pipeline))
                await asyncio.sleep(period)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={**NO_STORE, "X-Accel-Buffering": "no"})

    def latest_jpg(request: Request) -> Response:
        view = request.query_params.get("view", "overlay")
        if view not in VIEWS:
            return error(400, f"view={view!r} is not one of {', '.join(VIEWS)}")
        got = state.image(view, _int_param(request, "max", None, 64, 16384))
        if got is None:
            return error(404, "no frame has been processed yet; try again in a moment")
        return Response(got[1], media_type="image/jpeg", headers={**NO_STORE, "X-Skyseg-Frame": str(got[0])})

    def latest_mask(request: Request) -> Response:
        got = state.mask_png()
        if got is None:
            return error(404, "no frame has been processed yet; try again in a moment")
        return Response(got[1], media_type="image/png", headers={**NO_STORE, "X-Skyseg-Frame": str(got[0])})

    def static_mask(request: Request) -> Response:
        mask = state.static_mask()
        if mask is None:
            return error(404, "no per-installation mask has been learned yet (it needs processed frames)")
        return Response(encode_mask_png(mask), media_type="image/png",
                        headers={**NO_STORE, "X-Skyseg-Frames": str(state.static_frames())})

    async def settings(request: Request) -> Response:
        body = await _json_body(request, '{"conf": 0.3, "iou": 0.6}')
        unknown = set(body) - {"conf", "iou"}
        if unknown or not body:
            return error(400, f"settings takes conf and/or iou, got {sorted(body) or 'nothing'}")
        for key, value in body.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                return error(400, f"{key} must be a number from 0 to 1, got {value!r}")
        model.set_thresholds(body.get("conf"), body.get("iou"))
        return JSONResponse({"conf": model.conf, "iou": model.iou})

    async def models(request: Request) -> Response:
        entries = pipeline.catalog.entries()
        return JSONResponse({"current": model.model_key, "models": [e.to_json() for e in entries],
                             "note": "PyTorch .pt weights are converted with `skyseg export`, not loaded here"})

    def _switch(path: Path, key: str, backend: Any = None) -> None:
        if not switching.acquire(timeout=120):
            raise UploadError(429, "another model switch is in progress; try again in a moment")
        try:
            model.load(path, key, backend)
        finally:
            switching.release()

    async def choose_model(request: Request) -> Response:
        body = await _json_body(request, '{"key": "bundled:skyseg-n.onnx"}')
        entry = pipeline.catalog.find(str(body.get("key", "")))
        if entry is None:
            return error(404, f"no model {body.get('key')!r} here; GET /api/models lists the choices")
        try:
            await run_in_threadpool(_switch, entry.path, entry.key)
        except SkysegError as err:
            return error(400, str(err))
        return JSONResponse({"model": model.model_name, "key": model.model_key})

    async def upload_model(request: Request) -> Response:
        folder = pipeline.save_dir / "models"
        limit = int(config.max_model_mb * 1048576)
        received = await receive_file(request.headers, request.stream(), folder, limit)
        try:
            suffix = classify(received.filename, MODEL_FAMILIES)
            check_content(received.path, received.filename, suffix, MODEL_FAMILIES)
            stem = safe_name(received.filename, "model")
            stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
            path, n = folder / f"{stem}{suffix}", 1
            while path.exists():
                path, n = folder / f"{stem}-{n}{suffix}", n + 1
            os.replace(received.path, path)
        finally:
            received.path.unlink(missing_ok=True)
        try:
            backend = await run_in_threadpool(open_checked, path, pipeline.run_config)
        except SkysegError as err:
            path.unlink(missing_ok=True)
            return error(400, str(err).replace(str(path), received.filename))
        key = f"uploaded:{path.name}"
        try:
            await run_in_threadpool(_switch, path, key, backend)
        except UploadError:
            backend.__exit__(None, None, None)
            raise
        return JSONResponse({"model": model.model_name, "key": key})

    return [
        Route("/api/status", status),
        Route("/api/events", events),
        Route("/api/latest.jpg", latest_jpg),
        Route("/api/latest_mask.png", latest_mask),
        Route("/api/static_mask.png", static_mask),
        Route("/api/settings", settings, methods=["POST"]),
        Route("/api/models", models),
        Route("/api/model", choose_model, methods=["POST"]),
        Route("/api/models/upload", upload_model, methods=["POST"]),
    ]
