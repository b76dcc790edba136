"""The network on a Triton Inference Server: `--model triton://HOST:PORT/MODEL[?protocol=grpc|http&version=N]`.

Only `infer` crosses the wire: letterbox, NMS and mask decoding stay in skyseg, so every source and sink works as
with ONNX Runtime. Inputs/outputs come from the server's model metadata; skyseg's model metadata (class names,
imgsz) from the config parameter `skyseg_metadata` that `skyseg export --triton-repo` writes, else the contract's
defaults (inferred from the shapes). gRPC is the default protocol (port 8001 on a stock server), HTTP with
`?protocol=http` (port 8000). A server that is down or lacks the model is one InputError sentence.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from skyseg.runtime.backends.base import Backend, TensorSpec, parse_metadata
from skyseg.runtime.errors import InputError, MissingDependencyError, ModelContractError

log = logging.getLogger(__name__)

SCHEME = "triton://"
_TRITON_TYPES = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32,
                 "UINT8": np.uint8, "INT8": np.int8, "BOOL": np.bool_}


@dataclass(frozen=True)
class TritonTarget:
    host: str
    port: int
    model: str
    protocol: str = "grpc"
    version: str = ""

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, uri: str) -> TritonTarget:
        parts = urlsplit(uri)
        model = parts.path.strip("/")
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "triton" or not parts.hostname or not port or not model or "/" in model:
            raise InputError(f"--model {uri}: expected triton://HOST:PORT/MODEL[?protocol=grpc|http&version=N]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"protocol", "version"}
        if unknown:
            raise InputError(f"--model {uri}: unknown option(s) {', '.join(sorted(unknown))}; use protocol, version")
        protocol = query.get("protocol", "grpc")
        if protocol not in ("grpc", "http"):
            raise InputError(f"--model {uri}: protocol must be grpc or http, got {protocol!r}")
        return cls(parts.hostname, port, model, protocol, query.get("version", ""))


def _spec(tensor: dict[str, Any]) -> TensorSpec:
    dtype = _TRITON_TYPES.get(tensor["datatype"])
    if dtype is None:
        raise ModelContractError(f"Triton tensor '{tensor['name']}' has unsupported type {tensor['datatype']}")
    return TensorSpec(tensor["name"], np.dtype(dtype), tuple(int(d) if int(d) > 0 else None for d in tensor["shape"]))


class TritonBackend(Backend):
    """A model served by Triton (gRPC or HTTP via tritonclient), behind the same interface as ONNX Runtime."""

    kind = "triton"

    def __init__(self, uri: str, timeout_s: float = 30.0) -> None:
        self.target = TritonTarget.parse(uri)
        super().__init__(self.target.model)
        self.uri = uri
        self.timeout_s = timeout_s
        self.client: Any = None
        self._mod: Any = None

    def _open(self) -> None:
        t = self.target
        try:
            if t.protocol == "grpc":
                import tritonclient.grpc as mod
            else:
                import tritonclient.http as mod
        except ImportError:
            raise MissingDependencyError("--model triton:// needs tritonclient; `pip install 'skyseg[scale]'` or "
                                         "`pip install 'tritonclient[grpc,http]'`") from None
        self._mod = mod
        self.client = mod.InferenceServerClient(url=t.url)
        try:
            live = self.client.is_server_live()
        except Exception as err:  # tritonclient raises transport-specific errors
            self._close()
            raise InputError(f"Triton server {t.url} ({t.protocol}) is not reachable: {err}") from None
        if not live or not self.client.is_model_ready(t.model, t.version):
            self._close()
            raise InputError(f"Triton server {t.url} has no ready model '{t.model}'; check its model repository")
        if t.protocol == "grpc":
            meta = self.client.get_model_metadata(t.model, t.version, as_json=True)
            config = self.client.get_model_config(t.model, t.version, as_json=True).get("config", {})
        else:
            meta = self.client.get_model_metadata(t.model, t.version)
            config = self.client.get_model_config(t.model, t.version)
        self.inputs = [_spec(x) for x in meta.get("inputs", [])]
        self.outputs = sorted((_spec(x) for x in meta.get("outputs", [])), key=lambda s: s.name)
        raw = config.get("parameters", {}).get("skyseg_metadata", {})
        raw = raw.get("string_value" if "string_value" in raw else "stringValue", "")
        self.metadata = parse_metadata(json.loads(raw)) if raw else {}
        self._output_names = [o.name for o in self.outputs]
        log.info("Triton %s at %s: model %s, max_batch_size %s", t.protocol, t.url, t.model,
                 config.get("max_batch_size", config.get("maxBatchSize", 0)))

    def _close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # closing a dead channel
                pass
        self.client = None

    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if self.client is None:
            raise RuntimeError("Triton client is closed")
        mod = self._mod
        inp = mod.InferInput(self.inputs[0].name, list(images.shape), "FP32")
        inp.set_data_from_numpy(np.ascontiguousarray(images))
        if self.target.protocol == "grpc":
            outputs = [mod.InferRequestedOutput(n) for n in self._output_names]
        else:
            outputs = [mod.InferRequestedOutput(n, binary_data=True) for n in self._output_names]
        try:
            result = self.client.infer(self.target.model, [inp], model_version=self.target.version, outputs=outputs)
        except Exception as err:
            raise InputError(f"Triton inference on {self.target.url} failed: {err}") from None
        return {n: result.as_numpy(n) for n in self._output_names}
