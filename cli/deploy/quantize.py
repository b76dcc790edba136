"""`skyseg quantize MODEL.onnx --calib DIR -o MODEL.int8.onnx`: TensorRT-ready Q/DQ INT8 with mixed precision."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from skyseg.cli.arg_types import positive_int, share

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="FP32 ONNX with a static input (skyseg export)")
    parser.add_argument("--calib", type=Path, required=True, help="calibration directory (skyseg calib select|synth)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="Q/DQ ONNX to write")
    parser.add_argument("--method", choices=("entropy", "minmax", "percentile"), default="entropy",
                        help="activation calibration (default entropy, TensorRT's usual choice for CNNs)")
    parser.add_argument("--exclude", nargs="*", default=[], metavar="PATTERN",
                        help="node-name patterns kept float, e.g. '/model.10/*'")
    parser.add_argument("--quantize-head", action="store_true",
                        help="also quantize the Segment head's decode (for experiments: collapses scores)")
    parser.add_argument("--quantize-scan", action="store_true",
                        help="also quantize SS2D's selective scan and projections (kept float by default)")
    parser.add_argument("--quantize-stem", action="store_true",
                        help="also quantize the first conv, which reads the image (kept float by default)")
    parser.add_argument("--budget", type=float, default=0.02,
                        help="allowed sky-mask IoU drop vs FP32 on every hold-out frame (default 0.02: each frame "
                             "keeps IoU >= 0.98, the gate --backend auto applies to INT8)")
    parser.add_argument("--holdout-frames", type=Path, nargs="*", default=None, metavar="DIR",
                        help="folders of real night frames added to the hold-out (default: the 24 frames of "
                             "datasets/realpool/images/val that --backend auto does not check on; the flag alone: "
                             "none)")
    parser.add_argument("--no-sensitivity", action="store_true", help="skip the mixed-precision search")
    parser.add_argument("--holdout", type=share, default=0.2, help="fraction of the set held out (default 0.2)")
    parser.add_argument("--time-limit", type=float, default=240.0, help="seconds for the sensitivity search")
    parser.add_argument("--report", type=Path, default=None, help="accuracy report JSON (Markdown written beside)")
    parser.add_argument("--report-synth", type=int, default=24, help="synthetic val frames in the report")
    parser.add_argument("--realsky", type=Path, default=None, help="folder of real frames for the report")
    parser.add_argument("--threads", type=positive_int, default=1, help="ONNX Runtime threads for evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ort-cpu", type=Path, default=None, metavar="OUT.onnx",
                        help="also write the ONNX Runtime CPU form (UINT8 activations, 7-bit weights; the fast "
                             "INT8 form for ORT on x86 CPUs without VNNI) — -o stays the TensorRT form")
    parser.add_argument("--openvino", type=Path, default=None, metavar="OUT.onnx",
                        help="also write the OpenVINO form (Q/DQ only where a Conv reads INT8, unsigned codes), which "
                             "--backend auto races on OpenVINO when it lies beside the FP32 model as M.int8.ov.onnx")
    parser.add_argument("--calib-cache", type=Path, default=None,
                        help="activation-range cache (JSON): reused if it exists, written otherwise")


def run(args: argparse.Namespace) -> int:
    from skyseg.calib.quantize import QuantizeConfig, quantize_model

    cfg = QuantizeConfig(
        model=args.model, calib_dir=args.calib, output=args.output, method=args.method,
        exclude=tuple(args.exclude), keep_head_float=not args.quantize_head,
        keep_scan_float=not args.quantize_scan, keep_stem_float=not args.quantize_stem, budget=args.budget,
        sensitivity=not args.no_sensitivity, holdout=args.holdout, report=args.report,
        report_synth=args.report_synth, realsky=args.realsky, seed=args.seed, time_limit_s=args.time_limit,
        threads=args.threads, calib_cache=args.calib_cache,
        real_holdout=None if args.holdout_frames is None else tuple(args.holdout_frames),
    )
    result = quantize_model(cfg)
    log.info("INT8 model: %s (%d convs INT8, %d float; blocks kept float: %s)", result.output,
             result.quantized_convs, result.float_convs, result.kept_float_blocks or "none")
    if args.ort_cpu is not None or args.openvino is not None:
        write_cpu_forms(result.output, args.ort_cpu, args.openvino)
    if result.report is not None:
        log.info("accuracy report: %s (verdict %s)", args.report, result.report["verdict"])
        for flag in result.report["flags"]:
            log.error("%s", flag)
        if result.report["flags"]:
            return 3  # same exit code as a VerificationError: the INT8 model disagrees with FP32
    return 0


def write_cpu_forms(qdq: Path, ort_cpu: Path | None, openvino: Path | None) -> None:
    """The ONNX Runtime CPU form (uint8 activation codes) and, from it, the OpenVINO form; a CPU form not asked for
    is made in a temp file beside the OpenVINO one."""
    from skyseg.calib.openvino_form import write_openvino_form
    from skyseg.calib.ort_cpu import write_ort_cpu_form
    from skyseg.runtime.atomic_file import temp_beside

    if ort_cpu is not None:
        log.info("ONNX Runtime CPU form: %s", write_ort_cpu_form(qdq, ort_cpu))
    if openvino is None:
        return
    if ort_cpu is not None:
        log.info("OpenVINO form: %s", write_openvino_form(ort_cpu, openvino))
        return
    openvino.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(openvino, suffix=".cpu.onnx")
    os.close(fd)
    try:
        log.info("OpenVINO form: %s", write_openvino_form(write_ort_cpu_form(qdq, tmp), openvino))
    finally:
        tmp.unlink(missing_ok=True)
