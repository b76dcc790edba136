"""`skyseg bench compare`: one table of every skyseg backend (and Ultralytics' paths) with real numbers, and the rows
that cannot run say why. Checks what it reports, never how fast."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from skyseg.bench.compare_prepare import camera_hw
from skyseg.cli.main import main

QUICK = ["bench", "compare", "--sizes", "128", "--frames", "2", "--rounds", "1", "--calib-frames", "8",
         "--int8-budget", "1.0"]
SKYSEG_ROWS = ("skyseg FP32 · ONNX Runtime", "skyseg FP32 · OpenVINO (f32)", "skyseg FP32 · OpenVINO (bf16 hint)",
               "skyseg INT8 CPU form · ONNX Runtime", "skyseg INT8 CPU form · OpenVINO",
               "skyseg INT8 OpenVINO form · OpenVINO", "skyseg INT8 OpenVINO form · OpenVINO (bf16 float islands)",
               "skyseg INT8 Q/DQ (TensorRT form) · OpenVINO", "skyseg run --backend auto (its pick)")
REFUSED = SKYSEG_ROWS[7]


def _table(text: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def _notes(text: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\] (.+)$", text, re.M)}


def _assert_measured(cells: list[str]) -> None:
    ms, iou = cells
    assert float(ms.split(" [")[0]) > 0
    mean, low = (float(v) for v in iou.split(" / "))
    assert 0.5 <= low <= mean <= 1.0


@pytest.mark.parametrize(("size", "hw"), [(320, (192, 320)), (640, (384, 640)), (128, (96, 128))])
def test_camera_aspect_export_size(size: int, hw: tuple[int, int]) -> None:
    assert camera_hw(size, (1280, 720)) == hw
    assert camera_hw(size, (720, 1280)) == hw[::-1]


def test_compare_prints_every_skyseg_row_and_why_the_refused_ones_cannot_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from skyseg.runtime.backends import auto

    monkeypatch.setenv(auto.ENV_MEASURE, "1")  # the table reports what auto picks: let it measure
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    out, report = tmp_path / "prepared", tmp_path / "compare.json"
    assert main([*QUICK, "--no-ultralytics", "--out", str(out), "--json", str(report)]) == 0
    text = capsys.readouterr().out
    table, notes = _table(text), _notes(text)
    assert list(table) == list(SKYSEG_ROWS)
    for label in SKYSEG_ROWS:
        if label != REFUSED:
            _assert_measured(table[label])
    assert table[SKYSEG_ROWS[0]][1] == "1.000 / 1.000"  # the reference against itself
    refused = table[REFUSED]
    assert refused[0].startswith("refused [") and refused[1] == "—"
    why = notes[int(refused[0].split("[")[1].rstrip("]"))]
    assert why.startswith("refused: the model is an INT8 Q/DQ model with signed INT8 activations")
    assert "OpenVINO" in why and str(out) not in why
    assert "vs skyseg FP32 · ONNX Runtime" in text and "target ≥ 1.8×" in text
    assert "`skyseg run --backend auto` picks **" in text and "1280×720 frames × 1 rounds" in text

    doc = json.loads(report.read_text())  # the same numbers for scripts
    (size,) = doc["sizes"]
    assert size["size"] == 128 and size["hw"] == [96, 128] and doc["targets"]["auto_vs_ultralytics"] == 1.3
    rows = {r["name"]: r for r in size["rows"]}
    assert list(rows) == list(SKYSEG_ROWS)
    assert rows[SKYSEG_ROWS[0]]["ms"] == float(table[SKYSEG_ROWS[0]][0].split(" [")[0]) or \
        abs(rows[SKYSEG_ROWS[0]]["ms"] - float(table[SKYSEG_ROWS[0]][0].split(" [")[0])) < 0.051
    assert rows[SKYSEG_ROWS[0]]["reachable"] and rows[SKYSEG_ROWS[3]]["precision"] == "int8"
    assert rows[REFUSED]["ms"] is None and rows[REFUSED]["note"] == why
    assert size["auto"]["name"] in {e["name"] for e in size["auto"]["evidence"]}
    assert size["auto_row"]["name"] == SKYSEG_ROWS[-1] and size["best_ultralytics"] is None
    assert {p["int8"] for p in size["int8_vs_fp32"]} == set(SKYSEG_ROWS[3:7])
    fp32_bf16 = size["auto"]["options"] == {"precision": "bf16"} and "int8" not in size["auto"]["model"]
    assert rows[SKYSEG_ROWS[2]]["reachable"] == fp32_bf16  # OpenVINO bf16: only as auto's pick

    # a prepared INT8 model is reused per size (its TensorRT form converted to the CPU form), nothing re-quantized
    qdq = next(out.glob("*/skyseg-n.96x128.int8.onnx"))
    given = tmp_path / "mine.int8.onnx"
    given.write_bytes(qdq.read_bytes())
    assert main([*QUICK, "--no-ultralytics", "--out", str(out), "--int8", f"128={given}"]) == 0
    again = _table(capsys.readouterr().out)
    _assert_measured(again[SKYSEG_ROWS[3]])
    assert len(list(out.glob("*/mine.int8.cpu.onnx"))) == 1 and len(list(out.glob("*/mine.int8.ov.onnx"))) == 1


@pytest.mark.parametrize(("flags", "needle"), [
    (["--int8", "320=nowhere.onnx"], "--int8 names size(s) [320] that --sizes [128] does not race"),
    (["--frames", "0"], "--frames 0: frames, rounds and threads must be at least 1"),
])
def test_bad_flags_are_one_sentence(flags: list[str], needle: str, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    assert main([*QUICK, "--no-ultralytics", "--out", str(tmp_path), *flags]) == 2
    assert needle in caplog.text


@pytest.mark.slow
def test_compare_with_ultralytics_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ultralytics' .pt, its predict on skyseg's ONNX and its own OpenVINO exports; INT8 export fails or runs."""
    assert main([*QUICK, "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    table, notes = _table(text), _notes(text)
    for label in ("Ultralytics YOLO(.pt).predict · PyTorch", "Ultralytics YOLO(skyseg ONNX).predict · ONNX Runtime",
                  "Ultralytics OpenVINO export FP32 · predict"):
        _assert_measured(table[label])
    int8 = table["Ultralytics OpenVINO export INT8 · predict"]
    if int8[0].startswith("failed"):
        assert len(notes[int(int8[0].split("[")[1].rstrip("]"))]) > len("failed: ")
    else:
        _assert_measured(int8)
    # the auto-vs-Ultralytics line: a ratio, or (at this tiny test size Ultralytics' rows fall below the IoU floor
    # against skyseg's FP32 masks) the sentence that says no Ultralytics row qualified
    assert "auto's pick" in text
    assert "vs Ultralytics best = " in text or "no Ultralytics row at mean IoU" in text


def test_a_refusal_counts_only_for_the_int8_model_it_was_about(tmp_path: Path) -> None:
    """A refusal note left by the bench's own quantize is dropped once newer INT8 files (another quantize that met
    its budget) replace that model; a note newer than the model is shown."""
    import os

    from skyseg.bench.compare_prepare import PrepareConfig, Prepared, _int8

    stem = "m.384x640"
    for name in (f"{stem}.int8.refused.txt", f"{stem}.int8.onnx", f"{stem}.int8.cpu.onnx", f"{stem}.int8.ov.onnx"):
        (tmp_path / name).write_text("over the budget\n" if name.endswith(".txt") else "model")
    refused = tmp_path / f"{stem}.int8.refused.txt"
    cfg = PrepareConfig(pt=tmp_path / "m.pt", out=tmp_path)
    for refused_at, shown in ((1_000.0, ""), (3_000.0, "over the budget")):
        os.utime(refused, (refused_at, refused_at))
        os.utime(tmp_path / f"{stem}.int8.onnx", (2_000.0, 2_000.0))
        prep = Prepared(640, (384, 640), tmp_path / f"{stem}.onnx", notes={})
        _int8(cfg, prep, tmp_path)
        assert prep.int8_refused == shown and prep.int8_ov == tmp_path / f"{stem}.int8.ov.onnx"
