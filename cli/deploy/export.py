"""`skyseg export WEIGHTS -o MODEL.onnx`: reparameterize, export to ONNX, simplify, verify (thin CLI)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skyseg.export.trt.ops import DEFAULT_TARGETS, TARGETS
from skyseg.runtime.errors import InputError


def add_imgsz_arg(parser: argparse.ArgumentParser, default: int = 640) -> None:
    """`--imgsz S` (square) or `--imgsz H W` (e.g. 384 640 for 16:9 cameras)."""
    parser.add_argument("--imgsz", type=int, nargs="+", default=[default], metavar="S | H W",
                        help=f"input size: one value for square, or height width (default {default})")


def parse_imgsz(values: list[int]) -> tuple[int, int]:
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise InputError(f"--imgsz takes one value (square) or two (height width), got {len(values)}: {values}.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weights", type=Path, help="trained .pt checkpoint (or a model .yaml for an untrained one)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to write MODEL.onnx")
    parser.add_argument("--imgsz", type=int, nargs="+", default=None, metavar="S | H W",
                        help="input size: one value for square, or height width (default: the size the checkpoint "
                        "was trained at, else 640)")
    parser.add_argument("--aspect", default=None, metavar="W:H",
                        help="camera aspect, e.g. 16:9: the size is the long side, the other side follows (x32)")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--batch", type=int, default=1, help="static batch size (default 1)")
    shape.add_argument("--dynamic", nargs="?", const="auto", default=False, choices=("auto", "batch", "full"),
                       help="symbolic dims: 'batch', 'full' (batch, height, width) or, bare, auto: full unless the "
                            "model has SS2D blocks, whose unrolled scan fixes height and width (then batch only)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17, the newest TensorRT 8.6 parses)")
    parser.add_argument("--half", action="store_true", help="FP16 weights/activations, float32 I/O (for TensorRT 11)")
    parser.add_argument("--simplify", dest="simplify", action="store_true", default=True,
                        help="simplify with onnxslim (the default)")
    parser.add_argument("--no-simplify", dest="simplify", action="store_false", help="keep the traced graph as is")
    parser.add_argument("--verify-images", type=Path, default=None, metavar="DIR",
                        help="also verify on real frames from DIR (FITS/PNG/JPEG/TIFF)")
    parser.add_argument("--synth-frames", type=int, default=4, help="synthetic verification frames (default 4)")
    parser.add_argument("--trt-targets", nargs="+", choices=tuple(TARGETS), default=list(DEFAULT_TARGETS),
                        metavar="V", help=f"TensorRT versions the lint must pass for: {' '.join(TARGETS)} (default "
                        f"{' '.join(DEFAULT_TARGETS)}; 8.5 = JetPack 5.1 comes with --target jetpack5)")
    parser.add_argument("--target", choices=("any", "jetpack5"), default="any",
                        help="jetpack5: an ONNX that JetPack 5.1's TensorRT 8.5 parses (LayerNormalization "
                             "decomposed, opset 16), verified and linted for 8.5 too (default any)")
    parser.add_argument("--triton-repo", type=Path, default=None, metavar="DIR",
                        help="also write a Triton model repository: DIR/skyseg/{config.pbtxt,1/model.onnx} (and "
                        "DIR/skyseg_trt/ when MODEL.engine exists beside the ONNX)")
    parser.add_argument("--triton-max-batch", type=int, default=8, metavar="N",
                        help="Triton max_batch_size for a dynamic-batch export (default 8)")
    parser.add_argument("--triton-instances", type=int, default=1, metavar="N",
                        help="Triton instance_group count (default 1)")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip verification (not recommended: the file is then unproven)")


def run(args: argparse.Namespace) -> int:
    from skyseg.export.onnx_export import ExportConfig, ExportVerificationError, export_onnx
    from skyseg.cli.deploy.export_size import export_imgsz

    cfg = ExportConfig(
        weights=args.weights, output=args.output, batch=args.batch,
        imgsz=export_imgsz(args.weights, args.imgsz, args.aspect),
        dynamic=args.dynamic, opset=args.opset, half=args.half, simplify=args.simplify, verify=args.verify,
        verify_images=args.verify_images, synth_frames=args.synth_frames, lint_targets=tuple(args.trt_targets),
    )
    try:
        if args.target == "jetpack5":
            from skyseg.export.jetpack5 import export_jetpack5

            result = export_jetpack5(cfg)
        else:
            result = export_onnx(cfg)
    except ExportVerificationError as err:
        sys.stdout.write(err.report.format_table() + "\n")
        raise
    out = sys.stdout
    out.write(f"exported {result.path} in {result.seconds:.1f} s, {result.size_bytes / 1e6:.2f} MB\n")
    out.write("I/O: " + ", ".join(f"{k} {v}" for k, v in result.io.items()) + "\n")
    if result.verification is not None:
        out.write(result.verification.format_table() + "\n")
    else:
        out.write("verification: SKIPPED (--no-verify)\n")
    if args.triton_repo is not None:
        from skyseg.scale.triton_repo import write_triton_repo

        engine = Path(result.path).with_suffix(".engine")
        written = write_triton_repo(result.path, args.triton_repo, max_batch_size=args.triton_max_batch,
                                    cpu_instances=args.triton_instances, gpu_instances=args.triton_instances,
                                    engine=engine if engine.is_file() else None)
        out.write(f"Triton model repository: {args.triton_repo} ({len(written)} files)\n")
    return 0
