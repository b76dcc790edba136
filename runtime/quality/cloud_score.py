"""Cloud maps against hand labels on the 33-region grid: what `skyseg evaluate --clouds` reports.

A labelled frame is `images/<split>/<file>` with `clouds/<stem>.json` (datasets/realsky/clouds/README.md). Each frame
runs through the segmenter (its sky mask is the model's, as in `skyseg run`), then through the cloud step. Scores:
per-region accuracy (a region is predicted cloud when at least REGION_CLOUD_SHARE of its sky is cloud; `none`
regions are not scored) and per-frame |cloud fraction error| (the labelled fraction is the share of the scored
regions' sky that lies in cloud regions), per camera (cameras.tsv) and camera-mean. The model is fitted
leave-one-camera-out: a camera's frames are scored by weights fitted on the other cameras only.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np

from skyseg.runtime.clouds.detect import CloudModel, DEFAULT_MODEL, cloud_probability, feature_stack
from skyseg.runtime.clouds.features import CELL, CellFeatures, measure
from skyseg.runtime.clouds.grid import GridCircle, check_labels, region_areas, region_map, region_shares
from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import FrameError
from skyseg.runtime.process.preprocess import to_display8
from skyseg.runtime.quality.cloud_fit import fit_model
from skyseg.runtime.quality.evaluate import frame_stem, read_cameras
from skyseg.runtime.sources.image_reader import read_frame_file

log = logging.getLogger(__name__)
REGION_CLOUD_SHARE = 0.3  # labels call a region cloud from about a quarter of its sky


@dataclass
class LabelledFrame:
    name: str
    camera: str
    labels: List[str]
    feats: CellFeatures
    sky_work: np.ndarray  # the model's sky mask at the working size
    regions_work: np.ndarray  # region numbers at the working size
    regions_cells: np.ndarray  # region number of each cell centre
    segment_ms: float
    cloud_ms: float


@dataclass
class FrameCloudScore:
    name: str
    camera: str
    correct: int
    scored: int
    fraction_true: float
    fraction_pred: float

    @property
    def fraction_error(self) -> float:
        return abs(self.fraction_pred - self.fraction_true)


@dataclass
class CloudScores:
    frames: List[FrameCloudScore] = field(default_factory=list)

    def by_camera(self) -> Dict[str, List[FrameCloudScore]]:
        groups: Dict[str, List[FrameCloudScore]] = {}
        for f in self.frames:
            groups.setdefault(f.camera, []).append(f)
        return groups

    def camera_table(self) -> Dict[str, Dict[str, float]]:
        return {cam: {"frames": len(fs), "regions": sum(f.scored for f in fs),
                      "region_accuracy": sum(f.correct for f in fs) / max(1, sum(f.scored for f in fs)),
                      "fraction_error": float(np.mean([f.fraction_error for f in fs]))}
                for cam, fs in self.by_camera().items()}

    @property
    def camera_mean_accuracy(self) -> float:
        return float(np.mean([c["region_accuracy"] for c in self.camera_table().values()]))

    @property
    def camera_mean_fraction_error(self) -> float:
        return float(np.mean([c["fraction_error"] for c in self.camera_table().values()]))


def _scale_circle(c: GridCircle, fx: float, fy: float, unit: float = 1.0) -> GridCircle:
    """The label circle (full-frame px) in working px (unit 1) or cells (unit CELL), pixel centres aligned."""
    return GridCircle(((c.cx + 0.5) * fx) / unit - 0.5, ((c.cy + 0.5) * fy) / unit - 0.5, c.r * (fx + fy) / 2 / unit)


def load_labelled(segmenter: Any, roots: Sequence[Path], detect_model: CloudModel = DEFAULT_MODEL) -> List[LabelledFrame]:
    """Every frame with a cloud label file under `roots`, measured once (frames labelled all `none` are skipped)."""
    from skyseg.runtime.clouds.detect import detect_clouds

    out: List[LabelledFrame] = []
    for root in roots:
        root = Path(root)
        labels_dir = root / "clouds"
        if not labels_dir.is_dir():
            raise InputError(f"{root} has no clouds/ folder of cloud labels (datasets/realsky/clouds/README.md).")
        cameras = read_cameras(root)
        images = {frame_stem(p): p for p in sorted((root / "images").glob("*/*"))}
        for label_path in sorted(labels_dir.glob("*.json")):
            label = json.loads(label_path.read_text(encoding="utf-8"))
            check_labels(label.get("regions", []), str(label_path))
            if all(v == "none" for v in label["regions"]):
                continue
            image = images.get(label_path.stem)
            if image is None:
                raise InputError(f"{label_path} has no frame images/*/{label_path.stem}.* beside it.")
            frame = read_frame_file(image, 0, str(root))
            if isinstance(frame, FrameError):
                raise InputError(f"cannot read {image}: {frame.message}.")
            t0 = time.perf_counter()
            sky = segmenter.segment_frame(frame).sky_mask
            t1 = time.perf_counter()
            img8 = to_display8(frame.pixels)  # what the segmenter showed the model (it keeps no copy to ask for)
            t2 = time.perf_counter()
            detect_clouds(img8, sky, detect_model)
            t3 = time.perf_counter()
            feats = measure(img8, sky)
            if feats is None:
                continue
            wh, ww = feats.work_hw
            fx = fy = 1.0 / feats.factor
            circle = GridCircle.from_json(label["circle"])
            crop = sky.view(np.uint8)[: wh * feats.factor, : ww * feats.factor]
            sky_work = cv2.resize(crop, (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
            out.append(LabelledFrame(
                name=image.name, camera=cameras.get(image.name, frame_stem(image)), labels=label["regions"],
                feats=feats, sky_work=sky_work, regions_work=region_map((wh, ww), _scale_circle(circle, fx, fy)),
                regions_cells=region_map(feats.density.shape, _scale_circle(circle, fx, fy, CELL)),
                segment_ms=(t1 - t0) * 1e3, cloud_ms=(t3 - t2) * 1e3))
            log.info("%s: measured (%s)", image.name, out[-1].camera)
    if not out:
        raise InputError(f"no cloud-labelled frames under {[str(r) for r in roots]}.")
    return out


def training_cells(frames: Sequence[LabelledFrame]) -> tuple:
    """(features N x F, labels N, cameras N) of every cell whose centre lies in a cloud or clear region."""
    xs, ys, cams = [], [], []
    for f in frames:
        x = feature_stack(f.feats)
        lab = np.asarray(f.labels + ["none"])[f.regions_cells]  # -1 (outside) -> "none"
        keep = (lab != "none") & (f.feats.sky_share > 0.3) & f.feats.sky_cells
        xs.append(x[keep])
        ys.append((lab[keep] == "cloud").astype(np.float64))
        cams += [f.camera] * int(keep.sum())
    return np.concatenate(xs), np.concatenate(ys), cams


def score_frame(f: LabelledFrame, model: CloudModel) -> FrameCloudScore:
    cells = cloud_probability(feature_stack(f.feats), model) > 0.5
    wh, ww = f.feats.work_hw
    cloud = (cv2.resize(cells.view(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST) > 0) & f.sky_work
    share = region_shares(cloud, f.sky_work, f.regions_work)
    area = region_areas(f.sky_work, f.regions_work)
    lab = np.asarray(f.labels)
    scored = (lab != "none") & (area > 0)
    truth = lab == "cloud"
    pred = np.nan_to_num(share) >= REGION_CLOUD_SHARE
    total = float(area[scored].sum())
    return FrameCloudScore(f.name, f.camera, int((pred == truth)[scored].sum()), int(scored.sum()),
                           float(area[scored & truth].sum()) / total if total else 0.0,
                           float((np.nan_to_num(share) * area)[scored].sum()) / total if total else 0.0)


def leave_one_camera_out(frames: Sequence[LabelledFrame]) -> tuple:
    """(scores, {camera: model fitted without it}) with each camera scored by a model that never saw it."""
    x, y, cams = training_cells(frames)
    cams_arr = np.asarray(cams)
    scores, models = CloudScores(), {}
    for cam in sorted({f.camera for f in frames}):
        keep = cams_arr != cam
        model = fit_model(x[keep], y[keep], list(cams_arr[keep]))
        models[cam] = model
        scores.frames += [score_frame(f, model) for f in frames if f.camera == cam]
    return scores, models


def fit_all(frames: Sequence[LabelledFrame]) -> CloudModel:
    x, y, cams = training_cells(frames)
    return fit_model(x, y, cams)


def markdown(loco: CloudScores, shipped: CloudScores, frames: Sequence[LabelledFrame],
             fitted: Optional[CloudModel] = None) -> str:
    lines = ["cloud cover against the 33-region labels (region cloud when >= "
             f"{REGION_CLOUD_SHARE:.0%} of its sky is cloud)", "",
             "| camera | frames | regions | region accuracy (LOCO) | abs fraction error (LOCO) | "
             "region accuracy (shipped) | abs fraction error (shipped) |", "|---|---|---|---|---|---|---|"]
    ship = shipped.camera_table()
    for cam, row in loco.camera_table().items():
        s = ship.get(cam, {})
        lines.append(f"| {cam} | {row['frames']} | {row['regions']} | {row['region_accuracy']:.3f} | "
                     f"{row['fraction_error']:.3f} | {s.get('region_accuracy', float('nan')):.3f} | "
                     f"{s.get('fraction_error', float('nan')):.3f} |")
    lines.append(f"| camera mean | {len(loco.frames)} | {sum(f.scored for f in loco.frames)} | "
                 f"{loco.camera_mean_accuracy:.3f} | {loco.camera_mean_fraction_error:.3f} | "
                 f"{shipped.camera_mean_accuracy:.3f} | {shipped.camera_mean_fraction_error:.3f} |")
    seg = float(np.median([f.segment_ms for f in frames]))
    cloud = float(np.median([f.cloud_ms for f in frames]))
    lines += ["", f"latency (median per frame): segmenter {seg:.1f} ms, cloud step {cloud:.1f} ms "
                  f"(+{100 * cloud / seg:.0f} %)"]
    if fitted is not None:
        lines += ["", f"model fitted on all cameras: {fitted}"]
    return "\n".join(lines) + "\n"


def to_json(loco: CloudScores, shipped: CloudScores, frames: Sequence[LabelledFrame],
            fitted: Optional[CloudModel] = None) -> str:
    def table(s: CloudScores) -> Dict[str, Any]:
        return {"camera_mean_region_accuracy": s.camera_mean_accuracy,
                "camera_mean_fraction_error": s.camera_mean_fraction_error, "per_camera": s.camera_table(),
                "per_frame": {f.name: {"correct": f.correct, "scored": f.scored, "fraction_true": round(f.fraction_true, 4),
                                       "fraction_pred": round(f.fraction_pred, 4)} for f in s.frames}}
    return json.dumps({"leave_one_camera_out": table(loco), "shipped": table(shipped),
                       "segment_ms": [round(f.segment_ms, 2) for f in frames],
                       "cloud_ms": [round(f.cloud_ms, 2) for f in frames],
                       "fitted": None if fitted is None else fitted.__dict__}, indent=1)


def score_all(frames: Sequence[LabelledFrame], model: CloudModel) -> CloudScores:
    return CloudScores([score_frame(f, model) for f in frames])


def evaluate_clouds(segmenter: Any, roots: Sequence[Path]) -> tuple:
    """(markdown, json text) of `skyseg evaluate --clouds`: leave-one-camera-out scores, the shipped model's scores
    (in-sample: it was fitted on these labels), the segmenter's and the cloud step's latency, and a fit on all."""
    frames = load_labelled(segmenter, roots)
    loco, _ = leave_one_camera_out(frames)
    shipped = score_all(frames, DEFAULT_MODEL)
    fitted = fit_all(frames)
    return markdown(loco, shipped, frames, fitted), to_json(loco, shipped, frames, fitted)
