"""`skyseg serve --clouds` on real frames: the clouds view, the chart's cloud series, cloud values in the rows, and
the same cloud maps and table columns on disk as `skyseg run --clouds`."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pytest
from serve_process import Server, start_server, stop_server, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, realsky_dir: Path) -> Iterator[Server]:
    pytest.importorskip("starlette", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")
    tmp = tmp_path_factory.mktemp("serve-clouds")
    frames = tmp / "night"
    frames.mkdir()
    for name in ("cta_cloudy.fits.gz", "magic_20180817_0055.fits"):
        shutil.copy(realsky_dir / name, frames / name)
    srv = start_server(tmp, "--loop", "--max-fps", "3", "--threads", "1", "--clouds", source=str(frames))
    yield srv
    stop_server(srv)


@pytest.fixture()
def client(server: Server) -> Iterator[Any]:
    import httpx

    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _frames(client: Any) -> int:
    return client.get("/api/status").json()["frames"]


def test_clouds_view_series_and_rows(client: Any) -> None:
    wait_for(lambda: _frames(client) >= 3, timeout=90, what="three frames")
    response = client.get("/api/latest.jpg", params={"view": "clouds"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] in ((1699, 1699), (1040, 1392))
    points = client.get("/api/series").json()["points"]
    clouds = sorted(p["cloud"] for p in points)
    assert clouds[0] < 0.05 and clouds[-1] > 0.8  # the clear frame and the overcast one
    rows = client.get("/api/results").json()["rows"]
    assert all(0.0 <= r["cloud_fraction"] <= 1.0 for r in rows if r["error"] == "")


def test_cloud_maps_and_table_on_disk(client: Any, server: Server) -> None:
    wait_for(lambda: _frames(client) >= 2, timeout=90, what="two frames")
    maps = server.save_dir / "clouds"
    wait_for(lambda: (maps / "cta_cloudy_clouds.png").is_file() and (maps / "magic_20180817_0055_clouds.png").is_file(),
             what="a cloud map of each frame")  # the looped source names its later rounds <stem>_<index>
    with open(server.save_dir / "results.csv", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert 0.0 <= float(first["cloud_fraction"]) <= 1.0 and "clear_fraction" in first


def test_downloads_carry_cloud_fraction(client: Any) -> None:
    import io

    import openpyxl

    wait_for(lambda: _frames(client) >= 2, timeout=90, what="two frames")
    rows = list(csv.DictReader(io.StringIO(client.get("/api/results.csv").text)))
    assert rows and all(0.0 <= float(r["cloud_fraction"]) <= 1.0 for r in rows if not r["error"])
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/api/results.xlsx").content))["results"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[-1] == "cloud_fraction"
