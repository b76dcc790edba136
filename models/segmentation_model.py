"""`SkySegmentationModel`: Ultralytics' SegmentationModel whose `fuse()` first collapses skyseg's train-time blocks.

Ultralytics calls `fuse()` before it predicts, validates or exports a checkpoint. Its own fuse folds BatchNorm into
its own convs only; on a skyseg model the result is still exact, but OREPA's kernel generation is left in the graph
and `YOLO("skyseg-n.pt").export(format="onnx")` stops at it ("convolution for kernel of unknown shape"). Checkpoints
that skyseg trains pickle this class (the trainer builds it), so plain Ultralytics code that loads them gets the
exact deploy form from `fuse()`; nothing in Ultralytics is patched.
"""
from __future__ import annotations

from ultralytics.nn.tasks import SegmentationModel


class SkySegmentationModel(SegmentationModel):
    """A SegmentationModel that reparameterizes skyseg's blocks (`reparameterize_model`) when it is fused."""

    def fuse(self, verbose: bool = True, imgsz: int = 640) -> SkySegmentationModel:  # Ultralytics' signature
        from skyseg.models.reparam import reparameterize_model

        reparameterize_model(self, inplace=True)  # folds the stock convs too, through SegmentationModel.fuse
        if verbose:
            self.info(verbose=verbose, imgsz=imgsz)
        return self
