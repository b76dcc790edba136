"""`python -m skyseg.runtime.process.gpu_check`: the GPU pre/post-processing against the NumPy path, with timings.

One short prepared run for a machine with a GPU and CuPy: letterbox on 720p/1392×1040/4K-class frames (max
difference vs `preprocess`, must be ≤ 1/255) and sky-mask assembly with 5 and 50 instances (IoU vs
`MaskDecoder.sky_mask`, must be ≥ 0.999), each timed (median of repeated runs, GPU synchronised; the upload
of the frame is included in the GPU letterbox time). Exit 0 when all pass, 3 when a comparison fails, 2 when
CuPy or a GPU is missing.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import cv2
import numpy as np

from skyseg.runtime.errors import MissingDependencyError
from skyseg.runtime.process.letterbox import letterbox_geometry
from skyseg.runtime.process.mask_decode import MaskDecoder
from skyseg.runtime.process.preprocess import preprocess
from skyseg.runtime.timing import median_ms

log = logging.getLogger(__name__)

FRAMES_HW = ((720, 1280), (1040, 1392), (3040, 4056))
INSTANCES = (5, 50)
PRE_TOLERANCE = 1.0 / 255 + 1e-6
MIN_IOU = 0.999


def _scene(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    small = rng.integers(0, 256, (hw[0] // 16 + 1, hw[1] // 16 + 1, 3), dtype=np.uint8)
    img = cv2.resize(small, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(img.astype(np.int16) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


def _mask_case(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    protos = np.stack([cv2.GaussianBlur(rng.standard_normal((160, 160)).astype(np.float32), (0, 0), 8) * 20
                       for _ in range(32)])
    coeffs = rng.standard_normal((n, 32)).astype(np.float32)
    xy = rng.uniform(0, 500, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(40, 400, (n, 2)), 640)], axis=1).astype(np.float32)
    return protos, coeffs, boxes


def run_checks(repeats: int = 20, input_hw: tuple[int, int] = (640, 640)) -> dict[str, Any]:
    """Run both comparisons; returns a JSON-able report with a top-level `passed`."""
    from skyseg.runtime.process.gpu_masks import GpuMaskAssembler
    from skyseg.runtime.process.gpu_preprocess import GpuPreprocessor, cupy_module

    cp = cupy_module()
    try:
        device = cp.cuda.Device()
        name = cp.cuda.runtime.getDeviceProperties(device.id)["name"].decode()
    except Exception as err:  # CUDA driver/runtime errors surface as various CuPy exception types
        raise MissingDependencyError(f"CuPy is installed but no CUDA GPU is usable ({err})") from None
    sync = cp.cuda.get_current_stream().synchronize
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"device": name, "cupy": cp.__version__, "preprocess": [], "masks": []}
    pre = GpuPreprocessor(input_hw)
    for hw in FRAMES_HW:
        frame = _scene(rng, hw)
        ref, _ = preprocess(frame, input_hw)
        out, _ = pre(frame)
        diff = float(np.abs(out.get() - ref).max())
        report["preprocess"].append({
            "frame_hw": hw, "max_abs_diff": diff, "passed": diff <= PRE_TOLERANCE,
            "cpu_ms": median_ms(lambda f=frame: preprocess(f, input_hw), repeats),
            "gpu_ms_with_upload": median_ms(lambda f=frame: pre(f), repeats, sync=sync),
        })
    masks = GpuMaskAssembler()
    for hw in FRAMES_HW:
        info = letterbox_geometry(hw, input_hw)
        for n in INSTANCES:
            protos, coeffs, boxes = _mask_case(rng, n)
            ref = MaskDecoder(protos, info).sky_mask(coeffs, boxes)
            d_protos, d_coeffs, d_boxes = cp.asarray(protos), cp.asarray(coeffs), cp.asarray(boxes)
            got = masks.sky_mask(d_protos, d_coeffs, d_boxes, info).get()
            iou = float((ref & got).sum() / max(1, (ref | got).sum()))
            report["masks"].append({
                "frame_hw": hw, "instances": n, "iou": iou, "differing_pixels": int((ref != got).sum()),
                "passed": iou >= MIN_IOU,
                "cpu_ms": median_ms(lambda p=protos, c=coeffs, b=boxes, i=info: MaskDecoder(p, i).sky_mask(c, b),
                                    repeats),
                "gpu_ms": median_ms(lambda p=d_protos, c=d_coeffs, b=d_boxes, i=info: masks.sky_mask(p, c, b, i),
                                    repeats, sync=sync),
            })
    report["passed"] = all(r["passed"] for r in report["preprocess"] + report["masks"])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyseg.runtime.process.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
    try:
        report = run_checks(args.repeats)
    except MissingDependencyError as err:
        print(f"E skyseg: {err}", file=sys.stderr)
        return err.exit_code
    print(f"device: {report['device']} (CuPy {report['cupy']})")
    for r in report["preprocess"]:
        print(f"letterbox {r['frame_hw'][1]}x{r['frame_hw'][0]} → 640: max diff {r['max_abs_diff'] * 255:.2f}/255  "
              f"CPU {r['cpu_ms']:.2f} ms  GPU {r['gpu_ms_with_upload']:.2f} ms  {'ok' if r['passed'] else 'FAIL'}")
    for r in report["masks"]:
        print(f"sky mask {r['frame_hw'][1]}x{r['frame_hw'][0]}, {r['instances']:2d} instances: IoU {r['iou']:.5f} "
              f"({r['differing_pixels']} px)  CPU {r['cpu_ms']:.2f} ms  GPU {r['gpu_ms']:.2f} ms  "
              f"{'ok' if r['passed'] else 'FAIL'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    print("PASSED" if report["passed"] else "FAILED")
    return 0 if report["passed"] else 3


if __name__ == "__main__":
    sys.exit(main())
