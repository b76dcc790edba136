"""The Starlette app: the page, its static files, the API routes, the token gate and JSON error sentences."""
from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from skyseg.serve.auth import COOKIE, TokenGate
from skyseg.serve.detect import UploadRunner
from skyseg.serve.live_pipeline import LivePipeline
from skyseg.serve.routes_live import error, live_routes
from skyseg.serve.routes_results import results_routes
from skyseg.serve.uploads import UploadError

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)


def create_app(pipeline: LivePipeline, should_exit: Callable[[], bool] = lambda: False) -> Starlette:
    """The ASGI app over a started (or startable) LivePipeline."""
    uploads = UploadRunner(pipeline.model, pipeline.state, pipeline.run_config, pipeline.save_dir / "uploads",
                           pipeline.config.max_upload_frames)
    token = pipeline.config.token
    page = (STATIC / "index.html").read_bytes()

    async def index(request: Request) -> Response:
        response = HTMLResponse(page, headers={"Cache-Control": "no-store"})
        supplied = request.query_params.get("token", "")
        if token and hmac.compare_digest(supplied.encode(), token.encode()):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UploadError)
        return error(exc.status, exc.message)

    async def failure(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"error": f"{request.method} {request.url.path} failed on the server ({type(exc).__name__}: "
                                      f"{exc}); the live run goes on"}, status_code=500)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": f"{exc.detail}: {request.method} {request.url.path}"},
                            status_code=exc.status_code, headers=exc.headers)

    routes = [Route("/", index), *live_routes(pipeline, uploads, should_exit), *results_routes(pipeline, uploads),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return Starlette(routes=routes, middleware=[Middleware(TokenGate, token=token)],
                     exception_handlers={UploadError: refused, HTTPException: http_error, Exception: failure})
