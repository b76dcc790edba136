"""The improved YOLO11-seg (OREPA, RepConv, SS2D) and its exact deploy form."""
from __future__ import annotations

from skyseg.models.offline import configure_ultralytics_offline

configure_ultralytics_offline()  # before anything imports ultralytics
