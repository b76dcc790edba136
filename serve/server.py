"""`serve(config)`: bind the port, start the live pipeline, answer HTTP on one uvicorn server until SIGINT/SIGTERM.

The socket is bound before the model loads, so a port in use or a foreign address is one sentence and exit 2.
Temporary files (openpyxl's, for an .xlsx download) go to SAVE_DIR/.tmp, removed at exit: nothing is written outside
the save dir.
"""
from __future__ import annotations

import logging
import shutil
import signal
import socket
import tempfile
from typing import Any

from skyseg.runtime.errors import InputError, MissingDependencyError
from skyseg.serve.config import ServeConfig, check_bind, check_outputs
from skyseg.serve.live_pipeline import LivePipeline

log = logging.getLogger(__name__)


def _uvicorn() -> Any:
    try:
        import python_multipart  # noqa: F401 - needed by the upload parser
        import starlette  # noqa: F401 - imported only to check that the serve extra is installed
        import uvicorn
    except ImportError as err:
        raise MissingDependencyError(f"skyseg serve needs {err.name}: `pip install 'skyseg[serve]'`") from None
    return uvicorn


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for (host, port); InputError with the reason when that is impossible."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as err:
        raise InputError(f"cannot listen on {host}:{port}: {err}; pass an address of this machine with "
                         "--host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}; pick another --port or "
                         "--host") from None
    return sock


def serve(config: ServeConfig) -> int:
    """Run until SIGTERM (returns 0), Ctrl-C (130) or a failed live run (1); the run's files are closed each way."""
    check_bind(config.host, config.token)
    check_outputs(config.run.outputs)
    uvicorn = _uvicorn()
    from skyseg.serve.app import create_app

    sock = bind_socket(config.host, config.port)
    try:
        pipeline = LivePipeline(config)
        pipeline.start()
    except BaseException:
        sock.close()
        raise
    temp = pipeline.save_dir / ".tmp"
    temp.mkdir(exist_ok=True)
    tempfile.tempdir = str(temp)  # openpyxl's sheet files for an .xlsx download, any library's temp file: not /tmp
    uv_config = uvicorn.Config(None, log_level="warning", access_log=False, timeout_graceful_shutdown=3,
                               lifespan="off")
    server = uvicorn.Server(uv_config)
    uv_config.app = create_app(pipeline, lambda: bool(server.should_exit))
    pipeline.on_failed = lambda: setattr(server, "should_exit", True)  # a dead run ends the server (exit 1)
    if pipeline.status == "failed":
        server.should_exit = True
    port = sock.getsockname()[1]
    shown = f"[{config.host}]" if ":" in config.host else config.host
    log.info("dashboard on http://%s:%d/%s (saving under %s)", shown, port, "?token=…" if config.token else "",
             pipeline.save_dir)
    # uvicorn re-raises the signal that stopped it once it has shut down; with these handlers in place that only
    # records it, so the run's outputs are closed (video finalised, tables synced) before the process exits.
    received: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
           for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        pipeline.stop()
        sock.close()
        shutil.rmtree(temp, ignore_errors=True)
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if pipeline.status == "failed":
        log.error("the live run failed (%s); its outputs are closed, exiting with 1 so the service manager restarts "
                  "it", pipeline.error)
        return 1
    return 130 if signal.SIGINT in received else 0
