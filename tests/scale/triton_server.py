"""Start PyTriton (the real tritonserver binary it embeds) from its own virtual environment for the tests.

PyTriton pins numpy<2 and the project runs numpy 2, so the set-up makes `.cache/pytriton-venv` (git-ignored) once
with nvidia-pytriton, numpy<2 and onnxruntime from the package index, and starts the server there as a subprocess.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from broker import free_port

HERE = Path(__file__).parent
REPO = HERE.parents[1]
VENV = REPO / ".cache" / "pytriton-venv"
VENV_PY = VENV / "bin" / "python"


def ensure_venv() -> Path:
    """The PyTriton venv's python, created on first use (a few minutes; then cached)."""
    if not VENV_PY.exists() or subprocess.run([str(VENV_PY), "-c", "import pytriton, onnxruntime"]).returncode:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "nvidia-pytriton", "numpy<2", "onnxruntime"],
                       check=True, timeout=1200)
    site = next((VENV / "lib").glob("python3*/site-packages"))
    (site / "sitecustomize.py").write_text((HERE / "pytriton_sitecustomize.py").read_text())
    return VENV_PY


class TritonServer:
    """PyTriton serving `onnx` as `name` on free loopback ports (HTTP and gRPC)."""

    def __init__(self, onnx: Path, name: str, log_path: Path) -> None:
        self.http_port, self.grpc_port, metrics = free_port(), free_port(), free_port()
        self.name = name
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [str(ensure_venv()), str(HERE / "pytriton_server.py"), str(onnx), name, str(self.http_port),
             str(self.grpc_port), str(metrics)], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        import tritonclient.http as th

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PyTriton exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if th.InferenceServerClient(f"127.0.0.1:{self.http_port}").is_model_ready(self.name):
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.5)
        raise RuntimeError(f"PyTriton not ready within {timeout} s: {self.log_path.read_text()[-2000:]}")

    def uri(self, protocol: str) -> str:
        port = self.grpc_port if protocol == "grpc" else self.http_port
        return f"triton://127.0.0.1:{port}/{self.name}?protocol={protocol}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
