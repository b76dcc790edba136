"""The improved YOLO11-seg (OREPA, RepConv, SS2D) and its exact deploy form."""
from __future__ import annotations

from skyseg.models.training.offline import configure_ultralytics_offline

configure_ultralytics_offline()  # before anything imports ultralytics

from skyseg.models.training.loading import load_model, resolve_config  # noqa: E402  (light: imports Ultralytics on call)

_LAZY = {"register": "skyseg.models.registry", "reparameterize_model": "skyseg.models.reparam"}


def __getattr__(name: str):
    """`register` and `reparameterize_model` import torch/Ultralytics only when first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skyseg.models' has no attribute {name!r}")


__all__ = ["configure_ultralytics_offline", "load_model", "register", "reparameterize_model", "resolve_config"]
