"""One-off detection on an uploaded image or short video, through the live model.

Each upload is a small `skyseg run FILE --save-dir SAVE_DIR/uploads/ID`: the file is kept there beside its
results.csv, masks/ and annotated image(s) or annotated.mp4, written by the runtime's own sinks. Its rows also join
the night's table on the page. A file that yields no frame is refused with one sentence (HTTP 422) and leaves
nothing behind; the live source never notices.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from skyseg.runtime.errors import SkysegError
from skyseg.runtime.frame import FrameError
from skyseg.runtime.pipeline import Hooks, Pipeline, RunConfig
from skyseg.runtime.sinks.base import FrameRecord, Sink
from skyseg.runtime.sinks.table import COLUMNS
from skyseg.serve.exports import row_to_json
from skyseg.serve.live_state import LiveState, encode_jpeg, flat_row
from skyseg.serve.live_model import LiveModel
from skyseg.serve.uploads import (IMAGE_FAMILIES, VIDEO_FAMILIES, Received, UploadError, check_content, classify,
                                  safe_name)

log = logging.getLogger(__name__)

DETECT_FAMILIES = {**IMAGE_FAMILIES, **VIDEO_FAMILIES}
PREVIEWS_KEPT = 8


class _Collector(Sink):
    """Keeps the rows and the last good record of one upload (not every frame: a video would fill memory)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.rows: list[tuple[Any, ...]] = []
        self.last: FrameRecord | None = None
        self.errors: list[str] = []

    def write(self, record: FrameRecord) -> None:
        self.rows.append(flat_row(record, source=self.label))
        if record.ok:
            self.last = record
        elif record.error is not None:
            self.errors.append(record.error.message)

    def close(self) -> None:
        """Nothing to finalise."""


class UploadRunner:
    """Runs uploads one at a time (a second one meanwhile gets HTTP 429)."""

    def __init__(self, model: LiveModel, state: LiveState, run_config: RunConfig, folder: Path,
                 max_frames: int) -> None:
        self.model = model
        self.state = state
        self.run_config = run_config
        self.folder = folder
        self.max_frames = max_frames
        self._busy = threading.Lock()
        self._count = itertools.count(1)
        self._previews: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def preview(self, upload_id: str) -> bytes | None:
        return self._previews.get(upload_id)

    def detect(self, received: Received) -> dict[str, Any]:
        """Check, keep and segment one received file; returns the page's JSON. Always consumes `received.path`."""
        try:
            if not self._busy.acquire(blocking=False):
                raise UploadError(429, "another upload is being processed; try again in a moment")
            try:
                return self._detect(received)
            finally:
                self._busy.release()
        finally:
            received.path.unlink(missing_ok=True)

    def _detect(self, received: Received) -> dict[str, Any]:
        suffix = classify(received.filename, DETECT_FAMILIES)
        check_content(received.path, received.filename, suffix, DETECT_FAMILIES)
        upload_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{next(self._count):03d}"
        folder = self.folder / upload_id
        folder.mkdir(parents=True)
        name = safe_name(received.filename)
        if not name.lower().endswith(suffix):
            name += suffix
        path = folder / name
        try:
            os.replace(received.path, path)
            return self._segment(received, path, folder, suffix, upload_id)
        except SkysegError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadError(422, f"{received.filename}: {str(err).replace(str(path), received.filename)}") from None
        except BaseException:  # a refusal, or a failure the app answers as JSON 500: no half-done uploads/ID/ left
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _segment(self, received: Received, path: Path, folder: Path, suffix: str, upload_id: str) -> dict[str, Any]:
        label = f"upload:{received.filename}"
        collector = self._run(path, folder, suffix in VIDEO_FAMILIES, label)
        if collector.last is None or collector.last.rgb8 is None or collector.last.result is None:
            why = collector.errors[0].replace(str(path), received.filename) if collector.errors else "no frame in it"
            raise UploadError(422, f"{received.filename} could not be used: {why}")
        kept = self.state.add_upload_rows(collector.rows)
        last = collector.last
        self._previews[upload_id] = encode_jpeg(self.state.annotator.draw(last.rgb8, last.result), 1600)
        while len(self._previews) > PREVIEWS_KEPT:
            self._previews.popitem(last=False)
        error_at = COLUMNS.index("error")
        frames = sum(1 for row in collector.rows if row[error_at] == "")
        log.info("upload %s (%s): %d frame(s), %d error(s), saved in %s", upload_id, received.filename, frames,
                 len(collector.errors), folder)
        return {"id": upload_id, "name": received.filename, "frames": frames, "errors": len(collector.errors),
                "rows": [row_to_json(k) for k in kept[-50:]],
                "image": f"api/uploads/{upload_id}.jpg", "saved_in": f"uploads/{upload_id}"}

    def _run(self, path: Path, folder: Path, video: bool, label: str) -> _Collector:
        """The run loop on the uploaded file: the run's sinks under `folder` (no prior: one frame is not a night)."""
        from skyseg.runtime.sources.image_reader import read_frame_file

        config = replace(self.run_config, source=str(path), save_dir=str(folder), masks=None, table=None,
                         static_mask=None, outputs=(), watch=False, headless=True, max_frames=self.max_frames,
                         prior="off", min_free_mb=0)
        collector = _Collector(label)
        source = None
        if not video:
            item = read_frame_file(path, 0, label)
            if isinstance(item, FrameError):  # refused before any output is written
                raise UploadError(422, f"{label[7:]}: {item.message.replace(str(path), label[7:])}")
            source = [item]
        pipeline = Pipeline(config, hooks=Hooks(sinks=[collector]), source=source, source_kind="images")
        with self.model.serving(pipeline), pipeline:
            pipeline.run()
        return collector
