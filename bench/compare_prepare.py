"""The models `skyseg bench compare` races, made once per weights file and size and kept in `--out`.

Per input size S and frame aspect (1280×720 → H×W = 192×320 at 320, 384×640 at 640): skyseg's camera-aspect FP32
ONNX (`skyseg export --imgsz H W`), its INT8 Q/DQ model and ONNX Runtime CPU form (`skyseg quantize … --ort-cpu`,
on a synthetic calibration set at the frame size unless `--calib`), the CPU form's OpenVINO form
(`M.int8.ov.onnx`, calib/openvino_form.py), and Ultralytics' own OpenVINO exports of the
same `.pt` (FP32, and INT8 with a tiny synthetic dataset, which NNCF calibrates). Everything sits in
`OUT/<weights stem>-<sha256[:8]>/`, so new weights never reuse old files. A step that fails, or INT8 that misses
quantize's IoU budget, is remembered as a one-line reason in a `*.failed.txt` / `*.refused.txt` beside it (delete
it to retry); the bench prints it in the row instead of stopping.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import onnx

from skyseg.runtime.errors import InputError, SkysegError, VerificationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareConfig:
    pt: Path
    out: Path
    frame_wh: tuple[int, int] = (1280, 720)
    threads: int = 1
    calib: Path | None = None  # a calibration set (skyseg calib select|synth); None: a synthetic one in out
    calib_frames: int = 40
    int8_budget: float = 0.02  # quantize's allowed sky-mask IoU drop on every hold-out frame
    int8_given: tuple[tuple[int, Path], ...] = ()  # (size, prepared INT8 model: TensorRT or CPU form)
    ultralytics: bool = True


@dataclass
class Prepared:
    """One size's models; a None path comes with the reason in `notes`."""

    size: int
    hw: tuple[int, int]
    fp32: Path
    int8_qdq: Path | None = None
    int8_cpu: Path | None = None
    int8_ov: Path | None = None  # the OpenVINO form (Q/DQ only where a conv reads INT8)
    int8_refused: str = ""  # quantize's budget refusal (the model was still written, and is timed for the record)
    ul_pt: Path | None = None
    ul_openvino: Path | None = None
    ul_openvino_int8: Path | None = None
    notes: dict[str, str] | None = None


def camera_hw(size: int, frame_wh: tuple[int, int], stride: int = 32) -> tuple[int, int]:
    """(H, W) of the export for frames of `frame_wh` at `size` on the long side, each a multiple of `stride`."""
    w, h = frame_wh
    scale = size / max(w, h)
    return (math.ceil(h * scale / stride) * stride, math.ceil(w * scale / stride) * stride)


def _sha8(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def _remembered(marker: Path, make: Callable[[], Path], target: Path) -> tuple[Path | None, str]:
    """(target, "") once `make` has produced it, or (None, the one-line reason) it failed, remembered in `marker`."""
    if target.exists():
        return target, ""
    if marker.is_file():
        return None, marker.read_text().strip()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Ultralytics and NNCF print progress; stdout is the table
            return make(), ""
    except Exception as err:  # Ultralytics/NNCF raise anything; the row shows it, the run goes on
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"[:240]
        marker.write_text(reason + "\n")
        log.warning("%s failed: %s", target.name, reason)
        return None, reason


def _export_fp32(cfg: PrepareConfig, target: Path, hw: tuple[int, int]) -> Path:
    from skyseg.export.onnx_export import ExportConfig, export_onnx

    log.info("exporting %s at %dx%d", cfg.pt.name, hw[1], hw[0])
    return export_onnx(ExportConfig(weights=cfg.pt, output=target, imgsz=hw)).path


def _calibration_set(cfg: PrepareConfig, root: Path) -> Path:
    if cfg.calib is not None:
        return cfg.calib
    calib = root / f"calib-{cfg.frame_wh[0]}x{cfg.frame_wh[1]}-{cfg.calib_frames}"
    if not (calib / "manifest.json").is_file():
        from skyseg.calib.selection import SynthCalibConfig, synth_calibration_set

        log.info("rendering %d synthetic calibration frames into %s", cfg.calib_frames, calib)
        synth_calibration_set(SynthCalibConfig(output=calib, n=cfg.calib_frames, seed=1000, size=cfg.frame_wh))
    return calib


def _is_tensorrt_form(model: Path) -> bool:
    """Whether a Q/DQ model still has TensorRT's signed INT8 activation codes (the CPU form's are uint8)."""
    proto = onnx.load(str(model), load_external_data=False)
    zero_points = {n.input[2] for n in proto.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2}
    return any(i.data_type == onnx.TensorProto.INT8 for i in proto.graph.initializer if i.name in zero_points)


def _int8(cfg: PrepareConfig, prep: Prepared, root: Path) -> None:
    from skyseg.calib.ort_cpu import write_ort_cpu_form

    given = dict(cfg.int8_given).get(prep.size)
    stem = prep.fp32.name[: -len(".onnx")]
    if given is not None:
        if not given.is_file():
            raise InputError(f"--int8 {prep.size}={given}: the file does not exist.")
        from skyseg.calib.quantize import model_input

        hw = model_input(onnx.load(str(given), load_external_data=False))[1]
        if hw != prep.hw:
            raise InputError(f"--int8 {prep.size}={given} takes {hw[0]}x{hw[1]} input, but {prep.size} on "
                             f"{cfg.frame_wh[0]}x{cfg.frame_wh[1]} frames needs {prep.hw[0]}x{prep.hw[1]}.")
        prep.int8_qdq = given
        prep.int8_cpu = given if not _is_tensorrt_form(given) else write_ort_cpu_form(
            given, root / f"{given.name[: -len('.onnx')]}.cpu.onnx")
        _openvino_form(prep, root / f"{given.name[: -len('.onnx')]}.ov.onnx")
        return
    qdq, cpu = root / f"{stem}.int8.onnx", root / f"{stem}.int8.cpu.onnx"
    refused = root / f"{stem}.int8.refused.txt"
    if not qdq.is_file() or not cpu.is_file():
        from skyseg.calib.quantize import QuantizeConfig, quantize_model

        calib = _calibration_set(cfg, root)
        log.info("quantizing %s (budget %.3f; minutes at 640)", prep.fp32.name, cfg.int8_budget)
        refused.unlink(missing_ok=True)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                quantize_model(QuantizeConfig(model=prep.fp32, calib_dir=calib, output=qdq, budget=cfg.int8_budget,
                                              threads=cfg.threads))
        except VerificationError as err:  # over the budget: written for inspection; timed, never counted best
            if not qdq.is_file():
                prep.notes["int8"] = f"failed: {err}"
                return
            refused.write_text(str(err).splitlines()[0] + "\n")
        except SkysegError as err:
            prep.notes["int8"] = f"failed: {err}"
            return
        write_ort_cpu_form(qdq, cpu)
    prep.int8_qdq, prep.int8_cpu = qdq, cpu
    _openvino_form(prep, root / f"{stem}.int8.ov.onnx")
    # a refusal counts only for the model it was about: INT8 files put there later (another quantize) replace it
    current = refused.is_file() and refused.stat().st_mtime >= qdq.stat().st_mtime
    prep.int8_refused = refused.read_text().strip() if current else ""


def _openvino_form(prep: Prepared, target: Path) -> None:
    """The OpenVINO form of the CPU form (calib/openvino_form.py), made once; also what auto races beside FP32."""
    from skyseg.calib.openvino_form import write_openvino_form

    if prep.int8_cpu is not None and not target.is_file():
        write_openvino_form(prep.int8_cpu, target)
    prep.int8_ov = target if target.is_file() else None
    if prep.int8_ov is not None and prep.int8_ov.parent == prep.fp32.parent and not prep.int8_ov.name.startswith(
            prep.fp32.name[: -len(".onnx")] + "."):
        log.info("%s is not named after %s: --backend auto will not race it", prep.int8_ov.name, prep.fp32.name)


def _ultralytics(cfg: PrepareConfig, prep: Prepared, root: Path) -> None:
    """Ultralytics' own OpenVINO exports of the .pt, FP32 and INT8, in a folder per size (it writes beside the .pt)."""
    folder = root / f"ultralytics-{prep.hw[0]}x{prep.hw[1]}"
    folder.mkdir(exist_ok=True)
    pt = folder / cfg.pt.name
    if not pt.is_file():
        shutil.copyfile(cfg.pt, pt)
    prep.ul_pt = pt

    def export(**kwargs: object) -> Callable[[], Path]:
        def make() -> Path:
            from skyseg.models import load_model  # Ultralytics offline; an older checkpoint gets skyseg's fuse()

            return Path(load_model(pt).export(format="openvino", imgsz=list(prep.hw), verbose=False, **kwargs))
        return make

    prep.ul_openvino, prep.notes["ul_openvino"] = _remembered(
        folder / "openvino.failed.txt", export(), folder / f"{pt.stem}_openvino_model")
    data = _tiny_dataset(root, cfg.frame_wh)
    prep.ul_openvino_int8, prep.notes["ul_openvino_int8"] = _remembered(
        folder / "openvino-int8.failed.txt", export(int8=True, data=str(data)),
        folder / f"{pt.stem}_int8_openvino_model")


def _tiny_dataset(root: Path, frame_wh: tuple[int, int]) -> Path:
    """A small synthetic YOLO-seg dataset (`skyseg synth`) for Ultralytics' INT8 calibration, made once."""
    data = root / "synth-int8" / "data.yaml"
    if not data.is_file():
        from skyseg.synth import SynthConfig, generate_dataset

        generate_dataset(SynthConfig(out_dir=data.parent, n=32, seed=3000, size=frame_wh, val_fraction=0.5,
                                     overwrite=True))
    return data


def prepare(cfg: PrepareConfig, size: int) -> Prepared:
    """Export, quantize and convert what is missing for one size; return the paths and the reasons for gaps."""
    if not cfg.pt.is_file():
        raise InputError(f"weights {cfg.pt} do not exist; pass --pt WEIGHTS.pt (e.g. from `skyseg train`).")
    root = cfg.out / f"{cfg.pt.stem}-{_sha8(cfg.pt)}"
    root.mkdir(parents=True, exist_ok=True)
    hw = camera_hw(size, cfg.frame_wh)
    fp32 = root / f"{cfg.pt.stem}.{hw[0]}x{hw[1]}.onnx"
    if not fp32.is_file():
        with contextlib.redirect_stdout(sys.stderr):
            _export_fp32(cfg, fp32, hw)
    prep = Prepared(size, hw, fp32, notes={})
    _int8(cfg, prep, root)
    if cfg.ultralytics:
        _ultralytics(cfg, prep, root)
    return prep
