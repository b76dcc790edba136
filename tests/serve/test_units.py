"""The pure pieces of skyseg.serve: bind rule, upload names and types, the page's row store, downloads."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from skyseg.runtime.errors import InputError
from skyseg.runtime.frame import Frame, FrameError
from skyseg.runtime.result import SegResult
from skyseg.runtime.sinks.base import FrameRecord
from skyseg.runtime.sinks.table import COLUMNS
from skyseg.serve.config import check_bind, is_loopback
from skyseg.serve.exports import rows_to_csv, rows_to_xlsx
from skyseg.serve.live_state import LiveState
from skyseg.serve.uploads import IMAGE_FAMILIES, UploadError, check_content, classify, safe_name, suffix_of


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.5", False), ("camera.local", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "long-enough-token")
    with pytest.raises(InputError, match="needs --token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(InputError, match="at least 8"):
        check_bind("127.0.0.1", "short")


@pytest.mark.parametrize(("name", "safe"), [("../../etc/passwd", "passwd"), ("C:\\x\\..\\night 1.png", "night_1.png"),
                                            (".hidden.png", "hidden.png"), ("", "upload"), ("ü.fits", "fits")])
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


@pytest.mark.parametrize(("name", "suffix"), [("a.FITS.gz", ".fits.gz"), ("b.fit.gz", ".fit.gz"), ("c.PNG", ".png"),
                                              ("d", "")])
def test_suffix_of(name: str, suffix: str) -> None:
    assert suffix_of(name) == suffix


@pytest.mark.parametrize(("name", "status", "needle"), [("w.pt", 415, "skyseg export"), ("w.pth", 415, "skyseg export"),
                                                        ("x.exe", 415, "not accepted"), ("noext", 415, "no suffix")])
def test_classify_refuses(name: str, status: int, needle: str) -> None:
    with pytest.raises(UploadError) as err:
        classify(name, IMAGE_FAMILIES)
    assert err.value.status == status and needle in err.value.message


@pytest.mark.parametrize(("name", "head", "ok"), [
    ("a.png", b"\x89PNG\r\n\x1a\n\x00\x00", True), ("a.jpg", b"\xff\xd8\xff\xe0", True),
    ("a.fits", b"SIMPLE  =                    T", True), ("a.fits.gz", b"\x1f\x8b\x08\x00", True),
    ("a.tif", b"II*\x00abcd", True), ("a.png", b"\xff\xd8\xff\xe0", False), ("a.fits", b"hello world", False),
    ("a.png", b"PK\x03\x04zip", False),
])
def test_check_content(tmp_path: Path, name: str, head: bytes, ok: bool) -> None:
    path = tmp_path / "body"
    path.write_bytes(head + b"\x00" * 16)
    if ok:
        check_content(path, name, suffix_of(name), IMAGE_FAMILIES)
    else:
        with pytest.raises(UploadError) as err:
            check_content(path, name, suffix_of(name), IMAGE_FAMILIES)
        assert err.value.status == 415 and name in err.value.message


def _record(i: int, sky: bool = True) -> FrameRecord:
    frame = Frame(np.zeros((4, 6, 3), np.uint8), i, "src", 1_700_000_000.0 + i)
    result = SegResult(np.zeros((0, 4)), np.zeros(0), np.zeros(0), (4, 6), index=i, source_id="src",
                       timestamp=frame.timestamp, timings={"pre": 1.0, "infer": 2.0, "post": 0.5})
    return FrameRecord(frame=frame, result=result, rgb8=frame.pixels)


def test_live_state_pages_newest_first_and_keeps_history() -> None:
    state = LiveState(history=5)
    for i in range(7):
        state.add_live(_record(i))
    state.add_live(FrameRecord(error=FrameError(7, "src", "x.png", "cannot decode", 1_700_000_007.0)))
    total, rows = state.page(0, 3)
    assert total == 5 and [k.seq for k in rows] == [8, 7, 6]
    assert [k.seq for k in state.page(1, 3)[1]] == [5, 4]
    assert state.page(2, 3)[1] == []
    assert [k.seq for k in state.rows_since(6)] == [7, 8]
    received = [k.received for k in state.page(0, 5)[1]]
    assert received == sorted(received, reverse=True)
    assert (state.frames, state.errors) == (7, 1)
    assert len(state.series()) == 4  # the error row has no sky fraction
    assert state.image("raw") is not None and state.mask_png() is not None


def test_downloads_have_the_table_columns() -> None:
    import openpyxl

    state = LiveState()
    state.add_live(_record(0))
    rows = state.all_rows()
    assert rows_to_csv(rows).decode().splitlines()[0].split(",") == list(COLUMNS)
    sheet = openpyxl.load_workbook(io.BytesIO(rows_to_xlsx(rows)))["results"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(COLUMNS) and values[1][COLUMNS.index("latency_ms")] == 3.5


def test_the_server_side_imports_no_train_side() -> None:
    import subprocess
    import sys

    code = ("import sys, skyseg.cli.operate.serve, skyseg.serve.app, skyseg.serve.server; "
            "bad = sorted(m for m in ('torch', 'ultralytics', 'onnx', 'skyseg.models', 'skyseg.synth', 'skyseg.bench') "
            "if m in sys.modules); print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from skyseg.cli.operate import serve as cli_serve

    monkeypatch.setenv("SKYSEG_SERVE_TOKEN", "from-the-environment")
    parser = argparse.ArgumentParser()
    cli_serve.add_arguments(parser)
    assert parser.parse_args(["test://sky", "--model", "m.onnx"]).token == "from-the-environment"
    assert parser.parse_args(["test://sky", "--token", "given-on-the-line"]).token == "given-on-the-line"
