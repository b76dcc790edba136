"""Prove an exported ONNX equals its PyTorch deploy model: checker, numeric diffs, sky-mask IoU, TensorRT lint.

Both sides see the same tensors from `skyseg.runtime.preprocess.preprocess`, and both sides' outputs go through
`skyseg.runtime.postprocess.postprocess`, so the IoU compares exactly what the runtime would produce.

Tolerances (max |ONNX Runtime − PyTorch| over every element of every verification frame):

| part of the output          | fp32 ONNX | fp16 ONNX | why |
|-----------------------------|-----------|-----------|-----|
| output0 boxes (input px)    | 0.05      | 2.0       | pixel units up to the input size; fp32 reorderings give ~1e-4 px |
| output0 class scores (0-1)  | 1e-3      | 2e-2      | after the sigmoid |
| output0 mask coefficients   | 5e-3      | 0.1       | raw linear outputs, magnitude ~1-10 |
| output1 protos              | 5e-3      | 0.1       | after SiLU, magnitude ~0-5 |
| final sky-mask IoU          | ≥ 0.999   | ≥ 0.99    | the full-frame union mask after NMS and mask decoding |

The fp32 bounds are ~10-50× the differences measured on yolo11n-seg-sized models at 160-640 px (see the export
tests); fp16 bounds follow from fp16's 2^-11 relative step over the same magnitudes.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from skyseg.export.trt_lint import LintReport, lint_onnx
from skyseg.export.verify_frames import VerifyFrame
from skyseg.runtime.errors import MissingDependencyError
from skyseg.runtime.preprocess import preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tolerances:
    """Max abs differences per output part, and the minimum sky-mask IoU."""

    boxes: float
    scores: float
    coeffs: float
    protos: float
    min_iou: float


FP32_TOLERANCES = Tolerances(boxes=0.05, scores=1e-3, coeffs=5e-3, protos=5e-3, min_iou=0.999)
FP16_TOLERANCES = Tolerances(boxes=2.0, scores=2e-2, coeffs=0.1, protos=0.1, min_iou=0.99)
PARTS = ("boxes", "scores", "coeffs", "protos")


@dataclass(frozen=True)
class FrameCheck:
    """One frame's comparison."""

    name: str
    diffs: dict[str, float]
    iou: float
    detections_ref: int
    detections_onnx: int
    sky_fraction_ref: float


@dataclass
class VerificationReport:
    """Everything verification found; `ok` is the pass/fail verdict."""

    tolerances: Tolerances
    checker_error: str | None = None
    frames: list[FrameCheck] = field(default_factory=list)
    lint: LintReport | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def max_diffs(self) -> dict[str, float]:
        return {p: max((f.diffs[p] for f in self.frames), default=0.0) for p in PARTS}

    def min_iou(self) -> float:
        return min((f.iou for f in self.frames), default=1.0)

    def format_table(self) -> str:
        """The verification table the export command prints."""
        tol = self.tolerances
        lines = [f"onnx.checker (full): {'ok' if self.checker_error is None else 'FAILED: ' + self.checker_error}"]
        head = f"{'frame':<34} {'boxes px':>9} {'scores':>9} {'coeffs':>9} {'protos':>9} {'IoU':>8} {'det':>7} {'sky':>6}"
        lines += [head, "-" * len(head)]
        for f in self.frames:
            d = f.diffs
            lines.append(
                f"{f.name[:34]:<34} {d['boxes']:9.2e} {d['scores']:9.2e} {d['coeffs']:9.2e} {d['protos']:9.2e} "
                f"{f.iou:8.5f} {f.detections_ref:>3}/{f.detections_onnx:<3} {f.sky_fraction_ref:6.3f}"
            )
        lines.append(
            f"{'tolerance':<34} {tol.boxes:9.2e} {tol.scores:9.2e} {tol.coeffs:9.2e} {tol.protos:9.2e} "
            f"{'>=' + str(tol.min_iou):>8}"
        )
        if self.lint is not None:
            lines.append(self.lint.format_table())
        lines.append("verification: PASSED" if self.ok else "verification: FAILED\n  - " + "\n  - ".join(self.failures))
        return "\n".join(lines)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks; two empty masks agree perfectly (1.0)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def output_diffs(ref: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray], nc: int) -> dict[str, float]:
    """Max abs difference per output part (boxes, scores, coefficients, protos)."""
    r0, r1 = (np.asarray(x, dtype=np.float32) for x in ref)
    g0, g1 = (np.asarray(x, dtype=np.float32) for x in got)
    if r0.shape != g0.shape or r1.shape != g1.shape:
        raise ValueError(f"output shapes differ: PyTorch {r0.shape}/{r1.shape} vs ONNX {g0.shape}/{g1.shape}")
    d0 = np.abs(r0 - g0)
    return {
        "boxes": float(d0[:, :4].max()),
        "scores": float(d0[:, 4 : 4 + nc].max()),
        "coeffs": float(d0[:, 4 + nc :].max()),
        "protos": float(np.abs(r1 - g1).max()),
    }


def ort_session(path: str | os.PathLike[str], threads: int = 2) -> "onnxruntime.InferenceSession":  # noqa: F821
    """A CPU ONNX Runtime session with a fixed thread count (reproducible, and kind to a shared machine)."""
    try:
        import onnxruntime as ort  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError(
            "export verification needs ONNX Runtime; install it with `pip install onnxruntime` (or pass --no-verify)."
        ) from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _batches(frames: Sequence[VerifyFrame], batch: int) -> list[tuple[list[VerifyFrame], int]]:
    """Frames grouped to the model's static batch, with the count of real frames; the last group is padded by
    repeating its first frame."""
    groups = []
    for i in range(0, len(frames), batch):
        group = list(frames[i : i + batch])
        real = len(group)
        groups.append((group + [group[0]] * (batch - real), real))
    return groups


def verify_onnx(
    onnx_path: str | os.PathLike[str],
    net: "torch.nn.Module",  # noqa: F821 - the deploy module from skyseg.export.deploy_model
    frames: Sequence[VerifyFrame],
    imgsz: tuple[int, int],
    batch: int = 1,
    dynamic: bool = False,
    tolerances: Tolerances = FP32_TOLERANCES,
    conf: float = 0.25,
    lint_targets: Sequence[str] = ("8.6", "10", "11"),
) -> VerificationReport:
    """Run every check; never raises on a failed check — failures are listed in the report."""
    import torch  # noqa: PLC0415

    from skyseg.export.deploy_model import run_deploy  # noqa: PLC0415
    from skyseg.runtime.postprocess import postprocess  # noqa: PLC0415

    report = VerificationReport(tolerances)
    path = Path(onnx_path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        report.checker_error = str(err).splitlines()[0][:200]
        report.failures.append(f"onnx.checker full check failed: {report.checker_error}")
    model = onnx.load(str(path))
    report.lint = lint_onnx(model, lint_targets, expect_static=not dynamic)
    report.failures += [f"TensorRT lint: {f.message}" for f in report.lint.errors]

    session = ort_session(path)
    run_batch = 1 if dynamic else batch
    for group, real in _batches(frames, run_batch):
        tensors, infos = zip(*(preprocess(f.pixels, imgsz) for f in group))
        x = np.concatenate(tensors, axis=0)
        ref0, ref1 = (t.numpy() for t in run_deploy(net, torch.from_numpy(x)))
        got0, got1 = session.run(["output0", "output1"], {"images": x})
        nc = ref0.shape[1] - 4 - ref1.shape[1]
        for i, (frame, info) in enumerate(zip(group[:real], infos)):
            ref = (ref0[i : i + 1], ref1[i : i + 1])
            got = (got0[i : i + 1], got1[i : i + 1])
            diffs = output_diffs(ref, got, nc)
            res_ref = postprocess(*ref, info, conf=conf)
            res_got = postprocess(*got, info, conf=conf)
            report.frames.append(
                FrameCheck(frame.name, diffs, mask_iou(res_ref.sky_mask, res_got.sky_mask), len(res_ref),
                           len(res_got), float(res_ref.sky_fraction))
            )
    if not report.frames:
        report.failures.append("no verification frames were run")
    worst = report.max_diffs()
    for part in PARTS:
        limit = getattr(tolerances, part)
        if worst[part] > limit:
            report.failures.append(f"max |ONNX − PyTorch| of {part} is {worst[part]:.3g}, above the tolerance {limit:g}")
    if report.frames and report.min_iou() < tolerances.min_iou:
        bad = min(report.frames, key=lambda f: f.iou)
        report.failures.append(f"sky-mask IoU {bad.iou:.5f} on {bad.name} is below {tolerances.min_iou}")
    if report.frames and all(f.detections_ref == 0 for f in report.frames):
        log.warning("the model found no sky on any verification frame: the mask IoU check compared empty masks")
    return report
