"""`skyseg bench`: real runs on a tiny model — JSON schema, stage names, percentile order, overlapped decode."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from skyseg.cli.main import main
from skyseg.bench.throughput import BenchConfig, resolve_input, run_bench
from skyseg.bench.report import SCHEMA_VERSION, STAGES, TOTAL
from skyseg.runtime.errors import InputError

SMALL_FRAME = (320, 240)
STAT_KEYS = {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "n"}
TOP_KEYS = {"schema_version", "label", "model", "source", "stages", "batch", "fps", "wall_s", "instances_mean",
            "peak_rss_mib", "conditions", "compare", "end_to_end"}


def _check_stats(stats: dict, n: int) -> None:
    assert set(stats) == STAT_KEYS
    assert all(isinstance(stats[k], float) for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms"))
    assert stats["n"] == n
    assert 0.0 <= stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"]


def test_synthetic_run_json_schema(tiny_model: tuple[Path, Path]) -> None:
    _, onnx_path = tiny_model
    report = run_bench(BenchConfig(model=str(onnx_path), frames=6, warmup=1, threads=1, frame_wh=SMALL_FRAME))
    doc = json.loads(json.dumps(report.to_json()))  # must survive plain JSON
    assert set(doc) == TOP_KEYS
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert list(doc["stages"]) == ["preprocess", "inference", "postprocess", "write", TOTAL]
    for stats in doc["stages"].values():
        _check_stats(stats, 6)
    _check_stats(doc["end_to_end"], 6)
    assert doc["model"]["input_shape"] == [1, 3, 160, 160]
    assert doc["source"] == {"kind": "synthetic", "description": doc["source"]["description"], "frame_hw": [240, 320],
                             "frames": 6, "warmup": 1, "overlapped_decode": False}
    assert doc["fps"] > 0 and doc["wall_s"] > 0 and doc["peak_rss_mib"] > 50
    # total covers all stages of one iteration
    assert doc["stages"][TOTAL]["mean_ms"] >= doc["stages"]["inference"]["mean_ms"]
    load = doc["conditions"]["cpu_load"]
    assert set(load) == {"other_cores", "other_fraction", "own_cores", "wall_s", "method"}
    assert load["own_cores"] > 0.0  # we were busy inferring (how busy depends on what else runs: not asserted)
    machine = doc["conditions"]["machine"]
    assert isinstance(machine["cpu_model"], str) and machine["cpu_model"]
    assert {"numpy", "onnxruntime", "python"} <= set(machine["versions"])
    assert doc["conditions"]["threads"]["backend"] == 1
    assert doc["compare"] is None


def test_cli_writes_table_json_and_plot(tiny_model: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, onnx_path = tiny_model
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["bench", str(onnx_path), "--frames", "3", "--warmup", "1", "--threads", "1",
               "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    table = capsys.readouterr().out
    for stage in ("preprocess", "inference", "postprocess", "write", TOTAL):
        assert f"| {stage} |" in table
    assert "| stage | p50 ms | p90 ms | p99 ms |" in table
    assert json.loads(out_json.read_text())["stages"]["inference"]["n"] == 3
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(out_png)).shape[0] >= 300
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes left no temp files


def test_folder_source_overlaps_decode(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx_path = tiny_model
    frames = tmp_path / "night"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):  # fewer files than timed frames: the reader loops over the folder
        img = rng.integers(0, 65535, (200, 300), dtype=np.uint16)  # 16-bit gray, like an all-sky camera
        cv2.imwrite(str(frames / f"f{i}.png"), img)
    report = run_bench(BenchConfig(model=str(onnx_path), frames=5, warmup=1, threads=1, source=str(frames)))
    assert list(report.stages) == ["decode", "wait", "preprocess", "inference", "postprocess", "write", TOTAL]
    assert report.source["overlapped_decode"] is True and report.source["kind"] == "uri"
    assert report.source["frames"] == 5 and report.source["frame_hw"] == [200, 300]
    assert report.stages["decode"].n == 5 and report.stages["decode"].p50_ms > 0
    assert set(STAGES) == set(report.stages) - {TOTAL}


def test_folder_of_only_unreadable_frames_ends_with_one_error(tiny_model: tuple[Path, Path], tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """Regression: the looped reader retried the same broken files forever (300 000 warning lines)."""
    _, onnx_path = tiny_model
    frames = tmp_path / "broken"
    frames.mkdir()
    for i in range(3):
        (frames / f"f{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg" * (i + 1))
    with pytest.raises(InputError, match=r"no frame of .* could be read \(3 unreadable"):
        run_bench(BenchConfig(model=str(onnx_path), frames=5, warmup=1, threads=1, source=str(frames)))
    assert sum("skipping unreadable frame" in r.message for r in caplog.records) == 3  # each reported once


def test_missing_folder_is_input_error(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx_path = tiny_model
    with pytest.raises(InputError):
        run_bench(BenchConfig(model=str(onnx_path), frames=2, warmup=0, source=str(tmp_path / "absent")))


@pytest.mark.parametrize(
    ("shape", "imgsz", "batch", "expected"),
    [
        ((1, 3, 160, 160), None, 1, (1, (160, 160))),
        ((1, 3, 160, 160), (160, 160), 1, (1, (160, 160))),
        (("b", 3, "h", "w"), (384, 640), 4, (4, (384, 640))),
        (("b", 3, "h", "w"), None, 2, (2, (640, 640))),
    ],
)
def test_resolve_input(shape: tuple, imgsz: tuple | None, batch: int, expected: tuple) -> None:
    assert resolve_input(shape, BenchConfig(model="m.onnx", imgsz=imgsz, batch=batch)) == expected


@pytest.mark.parametrize(
    ("shape", "imgsz", "batch", "message"),
    [
        ((1, 3, 160, 160), (320, 320), 1, "--imgsz 320 320 does not match the model's static input 160×160"),
        ((1, 3, 160, 160), None, 2, "--batch 2 does not match the model's static batch 1"),
    ],
)
def test_resolve_input_errors(shape: tuple, imgsz: tuple | None, batch: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve_input(shape, BenchConfig(model="m.onnx", imgsz=imgsz, batch=batch))


def test_bad_counts_rejected() -> None:
    with pytest.raises(InputError, match="bench needs batch ≥ 1, frames ≥ 1, warmup ≥ 0; got batch=0"):
        BenchConfig(model="m.onnx", batch=0)


def test_ort_bench_never_imports_torch(tiny_model: tuple[Path, Path]) -> None:
    _, onnx_path = tiny_model
    code = textwrap.dedent(f"""
        import sys
        from skyseg.bench.throughput import BenchConfig, run_bench
        rep = run_bench(BenchConfig(model={str(onnx_path)!r}, frames=2, warmup=0, threads=1, frame_wh=(160, 120)))
        assert rep.stages["inference"].n == 2
        heavy = sorted(m for m in ("torch", "ultralytics", "skyseg.models", "skyseg.export") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


@pytest.mark.slow
def test_torch_backend_and_ultralytics_comparison(tiny_model: tuple[Path, Path]) -> None:
    from skyseg.export.torch_backend import open_torch_backend
    from skyseg.bench.ultralytics_ref import measure_ultralytics

    pt, onnx_path = tiny_model
    cfg = BenchConfig(model=str(pt), backend="torch", imgsz=(160, 160), frames=3, warmup=1, threads=1,
                      frame_wh=SMALL_FRAME)
    rep = run_bench(cfg, backend_factory=lambda c: open_torch_backend(c.model, threads=c.threads))
    assert rep.model["input_shape"] == [1, 3, 160, 160] and rep.stages["inference"].n == 3

    cfg = BenchConfig(model=str(onnx_path), frames=3, warmup=1, threads=1, compare_ultralytics=True,
                      frame_wh=SMALL_FRAME)
    rep = run_bench(cfg, compare_runner=measure_ultralytics)
    doc = rep.to_json()
    assert doc["compare"]["label"] == "ultralytics"
    assert set(doc["compare"]["stages"]) == {"preprocess", "inference", "postprocess", TOTAL}
    _check_stats(doc["compare"]["stages"][TOTAL], 3)
    assert doc["compare"]["ratio_p50"] == pytest.approx(
        doc["compare"]["stages"][TOTAL]["p50_ms"] / doc["end_to_end"]["p50_ms"], rel=1e-2)
    assert "intra-op threads 1" in doc["compare"]["notes"]
    assert "skyseg is **" in rep.markdown()


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 2, reason="pinning needs at least two usable CPUs")
def test_pin_is_recorded_and_restored(tiny_model: tuple[Path, Path]) -> None:
    import os

    before = os.sched_getaffinity(0)
    rep = run_bench(BenchConfig(model=str(tiny_model[1]), frames=2, warmup=0, threads=1, pin=True,
                                frame_wh=SMALL_FRAME))
    assert rep.conditions["machine"]["threads"]["affinity"] == [sorted(before)[0]]
    assert os.sched_getaffinity(0) == before


def test_plot_after_gstreamer_video_source(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    """A GStreamer source followed by a plot: matplotlib must be loaded first (FreeType clash segfaults otherwise)."""
    pytest.importorskip("gi", reason="needs PyGObject for GStreamer")
    video, png = tmp_path / "night.mkv", tmp_path / "plot.png"
    write = textwrap.dedent(f"""
        import numpy as np
        from skyseg.runtime.sinks.gst_video import VideoFileSink
        with VideoFileSink({str(video)!r}, fps=10.0, size_wh=(96, 64)) as sink:
            for i in range(6):
                sink.write(np.full((64, 96, 3), 20 * i, np.uint8))
    """)
    done = subprocess.run([sys.executable, "-c", write], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    code = textwrap.dedent(f"""
        import sys
        from skyseg.cli.main import main
        sys.exit(main(["bench", {str(tiny_model[1])!r}, "--source", "file://{video}", "--frames", "3",
                       "--warmup", "1", "--threads", "1", "--plot", {str(png)!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| decode |" in done.stdout and "| wait |" in done.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_preload_plotting_survives_gstreamer(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    """numpy + Gst.init + a later matplotlib import segfaults (FreeType clash); preloading matplotlib avoids it."""
    pytest.importorskip("gi", reason="needs PyGObject for GStreamer")
    png = tmp_path / "plot.png"
    code = textwrap.dedent(f"""
        import numpy
        from skyseg.bench.throughput import BenchConfig, run_bench
        from skyseg.bench.report import plot_reports, preload_plotting
        preload_plotting()
        from skyseg.runtime.gst_pipeline import load_gst
        Gst = load_gst()[0]
        Gst.init(None)
        rep = run_bench(BenchConfig(model={str(tiny_model[1])!r}, frames=2, warmup=0, threads=1, frame_wh=(160, 120)))
        plot_reports([rep], {str(png)!r})
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_openvino_backend_is_benchmarked(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="the OpenVINO backend is the optional extra skyseg[openvino]")
    _, onnx_path = tiny_model
    out = tmp_path / "ov.json"
    assert main(["bench", str(onnx_path), "--backend", "openvino", "--frames", "3", "--warmup", "1", "--threads", "1",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["label"].startswith("openvino") and doc["stages"]["inference"]["n"] == 3
