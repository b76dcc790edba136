"""The improved YOLO11-seg (OREPA, RepConv, SS2D) and its exact deploy form."""
from __future__ import annotations

from skyseg.models.offline import configure_ultralytics_offline

configure_ultralytics_offline()  # before anything imports ultralytics

from skyseg.models.loading import load_model, resolve_config  # noqa: E402
from skyseg.models.registry import register  # noqa: E402
from skyseg.models.reparam import reparameterize_model  # noqa: E402

__all__ = ["configure_ultralytics_offline", "load_model", "register", "reparameterize_model", "resolve_config"]
