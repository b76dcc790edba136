"""The PyTorch deploy model behind the runtime's backend interface, for `bench --backend torch` and `verify`.

It is the very module the exporter writes to ONNX (`skyseg.export.deploy_model`), so comparing it against ONNX
Runtime or TensorRT compares the export, not two different preparations. Only the inference call differs from the
runtime backends: frames go through the same preprocessing and post-processing code.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from skyseg.runtime.backends.base import TensorSpec  # the one spec type: PyTorch declares its I/O as backends do
from skyseg.runtime.errors import ModelContractError

log = logging.getLogger(__name__)


class TorchBackend:
    """Context-managed PyTorch deploy model: load on enter, `infer(images)` → {'output0', 'output1'}."""

    name = "torch"

    def __init__(self, weights: str | Path, threads: int | None = None) -> None:
        self.weights = Path(weights)
        self.threads = threads
        self.inputs = (TensorSpec("images", np.dtype(np.float32), (None, 3, None, None)),)
        self.outputs = (TensorSpec("output0", np.dtype(np.float32), (None, None, None)),
                        TensorSpec("output1", np.dtype(np.float32), (None, 32, None, None)))
        self.metadata: dict[str, Any] = {}
        self._net: Any = None
        self._stride = 32
        self._threads_before = 0

    def __enter__(self) -> TorchBackend:
        import torch

        from skyseg.export.deploy_model import load_deploy_model

        self._threads_before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))  # process-wide: put back on exit
        deploy = load_deploy_model(self.weights)
        self._net = deploy.module
        self._stride = deploy.stride
        self.metadata = {"names": deploy.names, "stride": deploy.stride, "task": "segment",
                         "skyseg_precision": "fp32"}
        log.info("PyTorch deploy model from %s (torch %s, %d thread(s))", self.weights, torch.__version__,
                 torch.get_num_threads())
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        self._net = None
        if self.threads and self._threads_before:
            torch.set_num_threads(self._threads_before)

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Forward a float32 [B, 3, H, W] batch; H and W must be multiples of the model's stride."""
        import torch

        from skyseg.export.deploy_model import run_deploy

        if self._net is None:
            raise RuntimeError("TorchBackend.infer() called outside its with-block")
        if images.dtype != np.float32 or images.ndim != 4 or images.shape[1] != 3:
            raise ModelContractError(f"input 'images' must be float32 [B, 3, H, W], got {images.dtype} "
                                     f"{list(images.shape)}")
        h, w = images.shape[2:]
        if h % self._stride or w % self._stride:
            raise ModelContractError(f"input size {h}×{w} is not a multiple of the model stride {self._stride}")
        out0, out1 = run_deploy(self._net, torch.from_numpy(np.ascontiguousarray(images)))
        return {"output0": out0.numpy(), "output1": out1.numpy()}


def open_torch_backend(weights: str | Path, threads: int | None = None) -> TorchBackend:
    """Factory matching the runtime's `open_backend` shape, for the CLI to pass into bench/verify."""
    return TorchBackend(weights, threads=threads)
