"""Every job that runs frames writes the same outputs as before: `skyseg run` (folder and test:// stream), the live
dashboard, a dashboard upload (image and video), the demo's clip step and the archive actor, on the same inputs.

Masks are compared byte for byte, table rows (CSV and XLSX) cell for cell without the timing columns, annotated
images and video frames pixel for pixel after decoding, outside the overlay's text line (it shows the live fps and
ms, which differ from run to run). The expected values sit in one_pipeline_golden.json, recorded on the code
before the run loops were merged; SKYSEG_UPDATE_GOLDEN=1 records them again.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GOLDEN = Path(__file__).with_name("one_pipeline_golden.json")
TIMING_COLUMNS = {"latency_ms", "pre_ms", "infer_ms", "post_ms"}
FRAMES = ("magic_20180817_0055.fits", "magic_20180817_0341.fits", "cta_cloudy.fits.gz",
          "indiallsky_20210930_224951.jpg")
STREAM = "test://sky?n=4&seed=3&w=320&h=240"
VIDEO_TOLERANCE = 3  # 8-bit levels per grid cell; the sky overlay alone moves a cell by tens
STAMP = re.compile(r"\d{8}T\d{6,9}Z")  # a capture time in a file name or a run id (UTC, compact ISO 8601)
MTIME = 1_600_000_000.0  # fixed capture times, so the table's time column is comparable


def _realsky_images() -> Path:
    here = Path(__file__).resolve().parents[1] / "datasets" / "realsky" / "images" / "val"
    if not here.is_dir():
        pytest.skip(f"real all-sky frames not found at {here}")
    return here


def _text_band(h: int, w: int) -> int:
    """Rows covered by the annotator's text line (fps and ms change between runs), rounded up to whole JPEG and
    video blocks so that nothing outside it depends on the text."""
    scale = max(0.4, min(h, w) / 900)
    thickness = max(1, round(min(h, w) / 360))
    bottom = int(24 * scale / 0.6) + int(14 * scale) + thickness + 4
    return -(-bottom // 16) * 16


def _pixels_digest(rgb: np.ndarray) -> str:
    img = np.ascontiguousarray(rgb).copy()
    img[: _text_band(*img.shape[:2])] = 0
    return hashlib.sha256(img.tobytes()).hexdigest()[:16] + f"@{img.shape[1]}x{img.shape[0]}"


def _frame_grid(rgb: np.ndarray, cells: int = 8) -> dict[str, Any]:
    """A lossy-coded frame, outside the text line, as block means on a cells×cells grid (ints): the encoder codes
    the whole frame a little differently when the text differs, so video frames are compared within a tolerance."""
    h, w = rgb.shape[:2]
    body = rgb[_text_band(h, w):].astype(np.float64)
    ys = np.linspace(0, body.shape[0], cells + 1).astype(int)
    xs = np.linspace(0, w, cells + 1).astype(int)
    grid = [int(round(body[ys[i]:ys[i + 1], xs[j]:xs[j + 1], c].mean()))
            for i in range(cells) for j in range(cells) for c in range(3)]
    return {"size": f"{w}x{h}", "grid": grid}


def _same(got: Any, expected: Any) -> bool:
    """Equal, except video frame grids, which may differ by VIDEO_TOLERANCE per cell."""
    if isinstance(expected, list) and expected and isinstance(expected[0], dict) and "grid" in expected[0]:
        return len(got) == len(expected) and all(
            g["size"] == e["size"] and max(abs(a - b) for a, b in zip(g["grid"], e["grid"])) <= VIDEO_TOLERANCE
            for g, e in zip(got, expected))
    return bool(got == expected)


def _video_digests(path: Path) -> list[dict[str, Any]]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.append(_frame_grid(frame))
    finally:
        cap.release()
    if not out:
        raise AssertionError(f"no frame could be decoded from {path}")
    return out


def _cell(value: Any, roots: list[str]) -> Any:
    if isinstance(value, str):
        for i, root in enumerate(roots):
            value = value.replace(root, f"<root{i}>")
        value = re.sub(r"uploads/\d{8}-\d{6}-(\d+)", r"uploads/\1", value)  # upload folders carry their time
    return value


def _rows(header: list[str], rows: list[list[Any]], roots: list[str]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        cells = {k: _cell(v, roots) for k, v in zip(header, row) if k not in TIMING_COLUMNS}
        path = str(cells.get("path", ""))
        if Path(path).suffix.lower() not in (".fits", ".gz", ".jpg") or "uploads/" in path:
            cells.pop("time", None)  # a stream's, a video's or an upload's frame time is when it was read
        out.append(cells)
    return out


def capture(folder: Path, roots: list[str]) -> dict[str, Any]:
    """What a run folder holds, as comparable values (see the module docstring)."""
    import cv2

    found: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".png" and ("mask" in path.parent.name or path.name.endswith("mask.png")):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        elif path.suffix == ".csv":
            with open(path, newline="") as f:
                lines = list(csv.reader(f))
            found[rel] = _rows(lines[0], lines[1:], roots)
        elif path.suffix == ".xlsx":
            import openpyxl

            sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
            lines = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
            found[rel] = _rows([str(h) for h in lines[0]], lines[1:], roots)
        elif path.parent.name == "annotated":
            found[rel] = _pixels_digest(cv2.imread(str(path), cv2.IMREAD_COLOR))
        elif path.suffix == ".mp4" and path.name.startswith("annotated"):
            found[rel] = _video_digests(path)
    return found


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder of four real frames (two FITS of one camera, gzipped FITS, JPEG) with fixed times, and a short
    synthetic clip (MJPEG: intra-coded, so it decodes to the same pixels every time it is written)."""
    src = _realsky_images()
    root = tmp_path_factory.mktemp("inputs")
    night = root / "night"
    night.mkdir()
    for name in FRAMES:
        shutil.copy(src / name, night / name)
        os.utime(night / name, (MTIME, MTIME))
    clip = None
    try:
        import gi  # noqa: F401  the clip is written by the runtime's GStreamer video writer
    except ImportError:
        pass
    else:
        from skyseg.demo.clip import write_clip

        clip = write_clip(root / "clip" / "night_sky.avi", seed=7, count=5, size_wh=(320, 180), fps=12.0)
    from skyseg.runtime.bundled_model import bundled_model_path

    return {"root": root, "night": night, "clip": clip, "model": Path(bundled_model_path())}


def _cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "skyseg.cli.main", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def run_cli(inputs: dict[str, Any], out: Path) -> dict[str, Any]:
    model = str(inputs["model"])
    common = ("--model", model, "--backend", "ort", "--threads", "1", "--headless")
    _cli("run", str(inputs["night"]), *common, "--save-dir", str(out / "folder"))
    _cli("run", STREAM, *common, "--save-dir", str(out / "stream"))
    return capture(out, [str(inputs["root"]), str(out)])


def run_serve(inputs: dict[str, Any], out: Path) -> dict[str, Any]:
    pytest.importorskip("starlette", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")
    from starlette.testclient import TestClient

    from skyseg.runtime.pipeline import RunConfig
    from skyseg.serve.app import create_app
    from skyseg.serve.config import ServeConfig
    from skyseg.serve.live_pipeline import LivePipeline

    config = ServeConfig(RunConfig(source=str(inputs["night"]), model=str(inputs["model"]), backend="ort",
                                   threads=1, save_dir=str(out)))
    pipeline = LivePipeline(config)
    pipeline.start()
    try:
        assert pipeline._thread is not None
        pipeline._thread.join(120)
        assert pipeline.status == "finished", pipeline.error
        uploads = [inputs["night"] / FRAMES[3]] + ([inputs["clip"].path] if inputs["clip"] else [])
        with TestClient(create_app(pipeline), base_url="http://127.0.0.1",
                        headers={"Origin": "http://127.0.0.1"}) as client:
            for path in uploads:
                with open(path, "rb") as f:
                    response = client.post("/api/detect", files={"file": (path.name, f, "application/octet-stream")})
                assert response.status_code == 200, response.text
    finally:
        pipeline.stop()
    found = capture(out, [str(inputs["root"]), str(out)])
    # upload folders are named by the time of the upload: number them instead
    names = sorted({k.split("/")[1] for k in found if k.startswith("uploads/")})
    return {(f"uploads/{names.index(k.split('/')[1])}/" + k.split("/", 2)[2] if k.startswith("uploads/") else k): v
            for k, v in found.items()}


def run_demo_clip(inputs: dict[str, Any], out: Path) -> dict[str, Any]:
    if inputs["clip"] is None:
        pytest.skip("the demo's clip needs GStreamer's Python bindings (gi)")
    from skyseg.demo.demo import DemoConfig, DemoSummary, _run_clip

    summary = DemoSummary(out)
    _run_clip(DemoConfig(out=out), inputs["model"], inputs["clip"], summary)
    return capture(out, [str(inputs["root"]), str(out)])


def run_archive_actor(inputs: dict[str, Any], out: Path) -> dict[str, Any]:
    pytest.importorskip("ray", reason="skyseg archive needs Ray: pip install -e '.[scale]'")
    from skyseg.scale.archive import ROW_COLUMNS, SegmentBatch

    paths = sorted(str(p) for p in inputs["night"].iterdir())
    actor = SegmentBatch(str(inputs["model"]), str(out / "masks"), 1)
    try:
        batch = actor({"path": np.array(paths), "mtime": np.array([MTIME] * len(paths))})
    finally:
        close = getattr(actor, "close", None)
        if close is not None:
            close()
    header = list(ROW_COLUMNS)
    rows = [[batch[c][i] for c in header] for i in range(len(paths))]
    found = capture(out, [str(inputs["root"]), str(out)])
    found["rows"] = _rows(header, [[str(v) for v in r] for r in rows], [str(inputs["root"]), str(out)])
    return found


def _ordinal_times(found: dict[str, Any]) -> dict[str, Any]:
    """Capture times in names (a stream's run id, a video frame whose name another frame took) as <t0>, <t1>, ... in
    time order: they differ run to run, their order and which file has which do not."""
    text = json.dumps(found, sort_keys=True)
    order = {stamp: f"<t{i}>" for i, stamp in enumerate(sorted(set(STAMP.findall(text))))}
    return json.loads(STAMP.sub(lambda m: order[m.group(0)], text))


JOBS = {"run": run_cli, "serve": run_serve, "demo_clip": run_demo_clip, "archive_actor": run_archive_actor}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_outputs_match_the_recorded_ones(job: str, inputs: dict[str, Any], tmp_path: Path) -> None:
    got = _ordinal_times(JOBS[job](inputs, tmp_path / job))
    assert got, f"{job} wrote nothing comparable"
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("SKYSEG_UPDATE_GOLDEN") == "1":
        golden[job] = got
        tmp = GOLDEN.with_suffix(".tmp")
        tmp.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        tmp.replace(GOLDEN)
        return
    assert job in golden, f"no recorded outputs for {job}: run once with SKYSEG_UPDATE_GOLDEN=1"
    expected = golden[job]
    assert sorted(got) == sorted(expected), "a different set of files was written"
    for key in sorted(expected):
        assert _same(got[key], expected[key]), f"{job}: {key} differs from the recorded output"
