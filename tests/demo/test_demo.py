"""`skyseg demo`, reduced (tiny model, a few frames): every output exists, is complete and reads back."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import pytest

CLIP_WH = (320, 192)
FRAMES = 8  # every frame goes through FP32, INT8, the Ultralytics oracle and the bench: keep it small


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """Run the demo once in a fresh process (GStreamer and matplotlib stay out of the test process)."""
    from skyseg.export.fresh_weights import build_fresh_checkpoint

    root = tmp_path_factory.mktemp("demo")
    weights = build_fresh_checkpoint(root / "tiny.pt", imgsz=160)
    out = root / "out"
    argv = [sys.executable, "-m", "skyseg.cli.main", "demo", "--out", str(out), "--weights", str(weights),
            "--frames", str(FRAMES), "--imgsz", "160", "--clip-size", *map(str, CLIP_WH), "--calib-frames", "8",
            "--sensitivity-s", "5", "--bench-frames", "3"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def _gst_frame_count(video: Path) -> int:
    code = textwrap.dedent(f"""
        from skyseg.runtime.frame import Frame
        from skyseg.runtime.sources.uri import open_source
        with open_source("file://{video}") as src:
            frames = [f for f in src if isinstance(f, Frame)]
        print("FRAMES", len(frames), frames[0].pixels.shape)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("FRAMES"))
    assert f"({CLIP_WH[1]}, {CLIP_WH[0]}, 3)" in line
    return int(line.split()[1])


@pytest.mark.slow
def test_demo_outputs(demo_out: tuple[Path, subprocess.CompletedProcess]) -> None:
    import openpyxl

    out, done = demo_out
    expected = ["model/skyseg.onnx", "model/skyseg.int8.onnx", "model/skyseg.int8.ort-cpu.onnx",
                "model/export_verification.txt",
                "calib/manifest.json", "clip/night_sky.mp4", "run/annotated.mp4", "run/results.csv",
                "run/results.xlsx", "verify/verify.md", "verify/verify.json", "bench/bench.md", "bench/bench.json",
                "bench/bench.png", "realsky/realsky_masks.png", "SUMMARY.md"]
    for rel in expected:
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix in (".part", ".tmp")]

    # videos play back through GStreamer with every frame
    assert _gst_frame_count(out / "clip" / "night_sky.mp4") == FRAMES
    assert _gst_frame_count(out / "run" / "annotated.mp4") == FRAMES

    masks = sorted((out / "run" / "masks").glob("*_mask.png"))
    assert len(masks) == FRAMES
    mask = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (CLIP_WH[1], CLIP_WH[0]) and mask.dtype.name == "uint8"
    assert set(map(int, set(mask.flatten().tolist()))) <= {0, 255}

    sheet = openpyxl.load_workbook(out / "run" / "results.xlsx", read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + FRAMES
    csv_rows = (out / "run" / "results.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + FRAMES

    bench = json.loads((out / "bench" / "bench.json").read_text())
    assert bench["schema_version"] == 1 and [r["label"] for r in bench["runs"]] == ["fp32", "int8-cpu"]
    assert bench["runs"][0]["compare"]["label"] == "ultralytics"
    table = (out / "bench" / "bench.md").read_text()
    for label in ("| fp32 |", "| int8-cpu |", "| ultralytics |"):
        assert label in table
    verify = json.loads((out / "verify" / "verify.json").read_text())
    assert [b["label"] for b in verify["backends"]] == ["torch-deploy", "ort-fp32", "ort-int8-qdq", "ort-int8-cpu"]
    assert verify["backends"][1]["status"] == "pass"
    qdq, cpu = verify["backends"][2:]  # both INT8 forms ran on every frame (the tiny random model sets no IoU bar)
    assert qdq["frames"] == cpu["frames"] == verify["backends"][1]["frames"] > 0
    assert qdq["status"] in ("pass", "FAIL") and cpu["status"] in ("pass", "FAIL")

    summary = (out / "SUMMARY.md").read_text()
    assert "| **total** |" in summary and str(out / "run" / "annotated.mp4") in summary
    assert "real skies: sky-mask IoU mean / min (labelled frames)" in summary and "over 9 frames" in summary
    assert "demo finished in" in done.stderr
