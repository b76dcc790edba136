"""`skyseg quantize`: FP32 ONNX + calibration set → TensorRT-ready Q/DQ INT8 ONNX, with mixed precision by budget.

Backend: ONNX Runtime's `quantize_static` (QDQ, symmetric INT8, per-channel weights). NVIDIA Model Optimizer's
ONNX path would be the first choice for TensorRT, but its `[onnx]` extra pins onnx~=1.21, onnxruntime-gpu~=1.24
and cupy-cuda12x, which conflicts with this project's CPU stack (see README/FACTS); both write the same standard
QuantizeLinear/DequantizeLinear pairs that TensorRT's ONNX parser reads.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from skyseg.calib import graph
from skyseg.calib.calib_set import MANIFEST, CalibrationSet, iter_tensors
from skyseg.calib.ort_qdq import QdqSettings, calibrate, quantize_cached
from skyseg.calib.sensitivity import HoldoutEvaluator, MixedPrecisionResult, search_mixed_precision
from skyseg.runtime.errors import InputError, ModelContractError, VerificationError
from skyseg.runtime.file_digest import file_sha256
from skyseg.runtime.sources.uri import is_still_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizeConfig:
    """Everything `skyseg quantize` needs."""

    model: Path
    calib_dir: Path
    output: Path
    method: str = "entropy"
    exclude: tuple[str, ...] = ()
    keep_head_float: bool = True
    keep_scan_float: bool = True  # SS2D's own ops (scan, projections, merge, gate): see graph.scan_float_nodes
    keep_stem_float: bool = True  # the conv module reading the image: see graph.stem_float_nodes
    budget: float = 0.02  # allowed sky-mask IoU drop vs FP32 on every hold-out frame (the worst one counts)
    sensitivity: bool = True
    holdout: float = 0.2
    real_holdout: tuple[Path, ...] | None = None  # folders of real frames added to the hold-out; None: shipped ones
    max_holdout: int = 20  # hold-out frames evaluated per trial (bounds the search time)
    report: Path | None = None
    report_synth: int = 24
    realsky: Path | None = None
    seed: int = 0
    time_limit_s: float = 240.0
    threads: int = 1
    calib_cache: Path | None = None  # ONNX Runtime range cache: reused when present, written when absent


@dataclass
class QuantizeResult:
    output: Path
    input_hw: tuple[int, int]
    head_block: int
    excluded_nodes: list[str]
    kept_float_blocks: list[int]
    quantized_convs: int
    float_convs: int
    calibration_frames: int
    holdout_frames: int
    mixed: MixedPrecisionResult | None = None
    report: dict[str, Any] | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "input_hw": list(self.input_hw), "head_block": self.head_block,
            "excluded_nodes": self.excluded_nodes, "kept_float_blocks": self.kept_float_blocks,
            "quantized_convs": self.quantized_convs, "float_convs": self.float_convs,
            "calibration_frames": self.calibration_frames, "holdout_frames": self.holdout_frames,
            "mixed_precision": self.mixed.to_dict() if self.mixed else None,
        }


def model_input(model: onnx.ModelProto) -> tuple[str, tuple[int, int]]:
    """(input name, (H, W)) of a static skyseg model; ModelContractError otherwise."""
    inputs = [i for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}]
    if len(inputs) != 1:
        raise ModelContractError(f"expected one input 'images', found {[i.name for i in inputs]}.")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or not dims[2] or not dims[3]:
        raise ModelContractError(
            f"expected a static input [B, 3, H, W], found {dims}; export with a fixed imgsz for calibration."
        )
    outs = {o.name for o in model.graph.output}
    if not {"output0", "output1"} <= outs:
        raise ModelContractError(f"expected outputs output0 and output1 (Ultralytics segment), found {sorted(outs)}.")
    return inputs[0].name, (int(dims[2]), int(dims[3]))


def _set_metadata(model: onnx.ModelProto, values: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in values.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)


def default_float_nodes(fp32: onnx.ModelProto, head: int, cfg: QuantizeConfig) -> list[str]:
    """What stays float before any sensitivity search: the head's decode, SS2D's scan and the stem (each optional)."""
    groups = [graph.head_float_nodes(fp32, head) if cfg.keep_head_float else [],
              graph.scan_float_nodes(fp32) if cfg.keep_scan_float else [],
              graph.stem_float_nodes(fp32) if cfg.keep_stem_float else []]
    return list(dict.fromkeys(n for group in groups for n in group))


def real_holdout(folders: tuple[Path, ...] | None, input_hw: tuple[int, int]) -> list[tuple[str, Any, Any]]:
    """(name, tensor, LetterboxInfo) of real night frames for the hold-out: the files in `folders`, or with None the
    real frames shipped with skyseg that `--backend auto` does not check INT8 on (so its check stays independent)."""
    from skyseg.runtime.backends.auto_measure import read_frame, unchecked_files
    from skyseg.runtime.process.preprocess import preprocess, to_rgb8

    if folders is None:
        files, where = unchecked_files()
    else:
        files = [f for d in folders for f in sorted(Path(d).iterdir()) if f.is_file() and is_still_image(f.name)]
        where = ", ".join(str(d) for d in folders)
    held = []
    for path in files:
        pixels = read_frame(path)
        if pixels is not None:
            held.append((path.name, *preprocess(to_rgb8(pixels), input_hw)))
    log.info("hold-out: %d real frame(s) from %s", len(held), where or "nowhere")
    return held


def quantize_model(cfg: QuantizeConfig) -> QuantizeResult:
    """Calibrate, quantize, search mixed precision within the budget, verify the Q/DQ structure, write the model."""
    if not cfg.model.is_file():
        raise InputError(f"model {cfg.model} does not exist.")
    fp32 = onnx.load(str(cfg.model))
    input_name, input_hw = model_input(fp32)
    settings = QdqSettings(method=cfg.method)
    calib = CalibrationSet.load(cfg.calib_dir)
    cal_entries, hold_entries = calib.split(cfg.holdout if cfg.sensitivity else 0.0, cfg.seed)
    hold_entries = hold_entries[: cfg.max_holdout]
    head = graph.find_head_index(fp32)
    excluded = default_float_nodes(fp32, head, cfg)
    excluded += [n for n in graph.match_patterns(fp32, cfg.exclude) if n not in excluded]
    log.info("head is /model.%d/; %d nodes stay float by default%s", head, len(excluded),
             f", plus --exclude {list(cfg.exclude)}" if cfg.exclude else "")
    cfg.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".skyseg-quant-", dir=cfg.output.parent) as tmp_name:
        tmp = Path(tmp_name)
        cache = cfg.calib_cache or tmp / "ranges.json"
        if cfg.calib_cache is not None and cfg.calib_cache.is_file():
            log.info("reusing calibration ranges from %s", cfg.calib_cache)
        else:
            try:
                calibrate(cfg.model, cal_entries, input_name, input_hw, settings, cache, tmp)
            except ValueError as err:  # ORT's histogram collectors reject degenerate (constant) tensors
                raise VerificationError(
                    f"{settings.method} calibration failed on this model ({err}); try --method minmax or percentile."
                ) from err

        def quantize(exclude: list[str], only: list[str] | None, out: Path) -> Path:
            try:
                quantize_cached(cfg.model, out, cache, settings, exclude, only)
            except ValueError as err:  # e.g. a --calib-cache made with another method or model
                raise InputError(f"cannot quantize with the ranges in {cache}: {err}") from err
            return out

        mixed = None
        final_excluded = list(excluded)
        kept: list[int] = []
        evaluator = None
        if cfg.sensitivity and hold_entries:
            held = [(e.path.name, t, info) for e, t, info in iter_tensors(hold_entries, input_hw)]
            held += real_holdout(cfg.real_holdout, input_hw)
            evaluator = HoldoutEvaluator(cfg.model, [h[1] for h in held], [h[2] for h in held], cfg.threads,
                                         [h[0] for h in held])
            block_nodes = graph.blocks(fp32)
            mixed = search_mixed_precision(block_nodes, quantize, evaluator.evaluate, excluded, cfg.budget, tmp,
                                           cfg.time_limit_s)
            kept = mixed.kept_float
            for k in kept:
                final_excluded += [n for n in block_nodes[k] if n not in final_excluded]
        final_path = quantize(final_excluded, None, tmp / "final.onnx")
        model = onnx.load(str(final_path))
        summary = graph.summarize_qdq(model, graph.head_float_nodes(fp32, head) if cfg.keep_head_float else [],
                                      also_float=final_excluded)
        if not summary.ok:
            raise VerificationError(
                f"the Q/DQ graph breaks TensorRT's rules: non-zero zero points {summary.nonzero_zero_points[:3]}, "
                f"half-quantized convs {summary.partially_quantized[:3]}, quantized head ops "
                f"{summary.quantized_excluded[:3]}, DQ on constants {summary.constant_dequantize[:3]}; report this "
                f"with the model."
            )
        _set_metadata(model, {
            "precision": "int8-qdq",
            "quantization": repr({"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                                  "activations": "int8 symmetric", "weights": "int8 symmetric per-channel",
                                  "calibration": settings.method, "kept_float_blocks": kept,
                                  "head_float": cfg.keep_head_float, "scan_float": cfg.keep_scan_float,
                                  "stem_float": cfg.keep_stem_float}),
            "calibration_manifest_sha256": file_sha256(cfg.calib_dir / MANIFEST),
            "source_model_sha256": file_sha256(cfg.model),
        })
        staged = tmp / "staged.onnx"
        onnx.save(model, str(staged))
        os.replace(staged, cfg.output)
    log.info("wrote %s: %d convs INT8, %d float, blocks kept float: %s", cfg.output,
             len(summary.quantized_weighted), len(summary.float_weighted), kept or "none")
    result = QuantizeResult(cfg.output, input_hw, head, final_excluded, kept, len(summary.quantized_weighted),
                            len(summary.float_weighted), len(cal_entries), len(hold_entries), mixed)
    if cfg.report is not None:
        from skyseg.calib.report import AccuracyConfig, accuracy_report, write_report

        report = accuracy_report(AccuracyConfig(cfg.model, cfg.output, synth_frames=cfg.report_synth,
                                                realsky=cfg.realsky, threads=cfg.threads))
        report["quantization"] = result.summary()
        write_report(report, cfg.report)
        result.report = report
    if mixed is not None and not mixed.budget_met:
        frame = evaluator.worst()[0] if evaluator is not None and evaluator.last else "a hold-out frame"
        raise VerificationError(
            f"the sky-mask IoU drop on {frame} ({1 - mixed.final_iou:.4f}) is above the per-frame budget {cfg.budget} "
            f"even with blocks {kept} in float{' (time limit reached)' if mixed.truncated else ''}; {cfg.output} was "
            f"written for inspection — raise --budget, add --exclude patterns, or calibrate on more representative "
            f"frames."
        )
    return result
