"""`skyseg bench serve` runs both commands on one finite source and reports frames/s and peak RSS (not how fast)."""
from __future__ import annotations

import pytest

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")


def test_bench_serve_reports_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from skyseg.bench.serve_cost import main

    assert main(["test://sky?n=8&w=160&h=120", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 2 and "skyseg run" in rows[0] and "skyseg serve + client" in rows[1]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[2]) == 8 and float(cells[3]) > 0 and float(cells[5]) > 0
    assert "% of `skyseg run`'s frames/s" in out and "peak RSS" in out
