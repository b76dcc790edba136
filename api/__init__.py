"""skyseg: night-sky segmentation on real cameras. These are the names a program embeds; each is imported on first
use, so `import skyseg` stays light (no OpenCV, ONNX Runtime or PyTorch until something needs them).

    import skyseg

    with skyseg.open_backend("skyseg-n.onnx") as backend, skyseg.open_source("night/*.fits") as source:
        seg = skyseg.Segmenter(backend, conf=0.25)
        for item in source:  # a Frame, or a FrameError for an unreadable input
            record = seg.record(item)  # a FrameRecord: the result, the frame as displayed, or the error
            print(record.path, record.result.sky_fraction if record.ok else record.error.message)

    # or the whole run loop, with the sinks `skyseg run` would use:
    skyseg.run(skyseg.RunConfig(source="night/", model="skyseg-n.onnx", masks="masks", table="results.csv"))
"""
from __future__ import annotations

import importlib
from typing import Any, List

_EXPORTS = {
    "open_source": "skyseg.runtime.sources.uri",
    "open_backend": "skyseg.runtime.backends.base",
    "Segmenter": "skyseg.runtime.process.segmenter",
    "SegResult": "skyseg.runtime.result",
    "Frame": "skyseg.runtime.frame",
    "FrameError": "skyseg.runtime.frame",
    "FrameRecord": "skyseg.runtime.frame",
    "Pipeline": "skyseg.runtime.pipeline",
    "Hooks": "skyseg.runtime.pipeline",
    "run": "skyseg.runtime.pipeline",
    "RunConfig": "skyseg.runtime.run.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'skyseg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
