"""`SkyYOLO`: Ultralytics' YOLO whose segment task builds and trains `SkySegmentationModel`.

Ultralytics looks up a task's model and trainer classes in `Model.task_map`; overriding that map in a subclass is
its documented way to bring one's own model class. `load_model` returns this wrapper, so a model built from a
skyseg YAML, and every checkpoint `skyseg train` writes, is a SkySegmentationModel (see its module).
"""
from __future__ import annotations

from typing import Any

from ultralytics import YOLO
from ultralytics.models.yolo.segment import SegmentationTrainer
from ultralytics.utils import RANK

from skyseg.models.segmentation_model import SkySegmentationModel


class SkySegmentationTrainer(SegmentationTrainer):
    """The segmentation trainer, building SkySegmentationModel instead of SegmentationModel."""

    def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> SkySegmentationModel:
        model = SkySegmentationModel(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights)
        return model


class SkyYOLO(YOLO):
    """YOLO with skyseg's model and trainer classes for the segment task."""

    @property
    def task_map(self) -> dict[str, dict[str, Any]]:
        tasks = dict(super().task_map)
        tasks["segment"] = {**tasks["segment"], "model": SkySegmentationModel, "trainer": SkySegmentationTrainer}
        return tasks
