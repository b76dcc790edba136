"""Every API endpoint of a real `skyseg serve` (uvicorn on loopback), with good and bad input."""
from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from skyseg.runtime.sinks.table import COLUMNS

from serve_process import Server, wait_for


def status(client: Any) -> dict[str, Any]:
    response = client.get("/api/status")
    assert response.status_code == 200
    return response.json()


def first_frame(client: Any) -> dict[str, Any]:
    return wait_for(lambda: (s := status(client))["frames"] > 0 and s, what="the first frame")


def test_status_reports_the_run(client: Any, server: Server) -> None:
    s = first_frame(client)
    for key in ("frames", "fps", "conf", "iou", "model", "source", "state", "latest", "save_dir"):
        assert key in s
    assert s["model"] == "skyseg-n.onnx" and s["source"].endswith("frames") and s["state"] == "running"
    later = wait_for(lambda: (t := status(client))["frames"] > s["frames"] and t, what="more frames")
    assert later["latest"] > s["latest"]
    assert wait_for(lambda: status(client)["fps"] > 0, what="a live fps")


@pytest.mark.parametrize("view", ["overlay", "raw", "mask"])
def test_latest_jpg_in_each_view(client: Any, view: str) -> None:
    first_frame(client)
    response = client.get("/api/latest.jpg", params={"view": view})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape[:2] == (240, 320)
    small = client.get("/api/latest.jpg", params={"view": view, "max": 160})
    assert cv2.imdecode(np.frombuffer(small.content, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == (120, 160)


@pytest.mark.parametrize(("params", "needle"), [({"view": "thermal"}, "view"), ({"max": "huge"}, "max"),
                                                ({"max": "10"}, "max")])
def test_latest_jpg_bad_query(client: Any, params: dict[str, str], needle: str) -> None:
    response = client.get("/api/latest.jpg", params=params)
    assert response.status_code == 400 and needle in response.json()["error"]


def test_latest_mask_is_full_size_255_is_sky(client: Any) -> None:
    first_frame(client)
    response = client.get("/api/latest_mask.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    mask = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (240, 320) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255} and (mask == 255).any()


def test_static_mask_once_learned(client: Any) -> None:
    wait_for(lambda: status(client)["static_mask_frames"] >= 2, what="frames for the static mask")
    response = client.get("/api/static_mask.png")
    assert response.status_code == 200
    mask = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (240, 320)


def test_settings_take_effect_and_status_follows(client: Any) -> None:
    try:
        response = client.post("/api/settings", json={"conf": 0.4, "iou": 0.55})
        assert response.status_code == 200 and response.json() == {"conf": 0.4, "iou": 0.55}
        s = status(client)
        assert (s["conf"], s["iou"]) == (0.4, 0.55)
        assert client.post("/api/settings", json={"conf": 0.3}).json() == {"conf": 0.3, "iou": 0.55}
    finally:
        client.post("/api/settings", json={"conf": 0.25, "iou": 0.7})


@pytest.mark.parametrize(("body", "needle"), [
    ({"conf": 2}, "conf must be a number from 0 to 1"), ({"iou": -0.1}, "iou must be"), ({"conf": "high"}, "conf"),
    ({"conf": True}, "conf"), ({"gain": 3}, "conf and/or iou"), ({}, "conf and/or iou"), ([0.3], "JSON object"),
])
def test_settings_refuse_bad_values(client: Any, body: Any, needle: str) -> None:
    before = status(client)
    response = client.post("/api/settings", json=body)
    assert response.status_code == 400 and needle in response.json()["error"]
    assert status(client)["conf"] == before["conf"]


def test_settings_refuse_non_json(client: Any) -> None:
    response = client.post("/api/settings", content=b"conf=0.3", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.json()["error"]
    broken = client.post("/api/settings", content=b"{conf", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "JSON object" in broken.json()["error"]


def test_results_pages_newest_first(client: Any) -> None:
    wait_for(lambda: status(client)["rows"] >= 4, what="four rows")
    page0 = client.get("/api/results", params={"per_page": 2}).json()
    page1 = client.get("/api/results", params={"per_page": 2, "page": 1}).json()
    seqs = [r["seq"] for r in page0["rows"] + page1["rows"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 4
    assert page0["total"] >= 4 and page0["pages"] >= 2
    assert set(COLUMNS) <= set(page0["rows"][0])
    assert client.get("/api/results", params={"per_page": 0}).status_code == 400
    far = client.get("/api/results", params={"page": 10**6}).json()
    assert far["rows"] == []


@pytest.mark.parametrize("raw", ["%C2%B3", "%D9%A3%D9%A0", "1e3", "-5"])  # '³' and Arabic-Indic '30' are digits
def test_series_max_that_is_no_whole_number_is_400(client: Any, raw: str) -> None:
    response = client.get(f"/api/series?max={raw}")
    assert response.status_code == 400 and "whole number from 10 to 20000" in response.json()["error"]


def test_series_for_the_chart(client: Any) -> None:
    wait_for(lambda: status(client)["frames"] >= 2, what="two frames")
    points = client.get("/api/series").json()["points"]
    assert len(points) >= 2 and all(0 <= p["sky"] <= 1 and p["latency_ms"] > 0 for p in points)


def test_results_csv_and_xlsx(client: Any) -> None:
    import openpyxl

    first_frame(client)
    csv_response = client.get("/api/results.csv")
    assert csv_response.status_code == 200 and "attachment" in csv_response.headers["content-disposition"]
    lines = csv_response.text.splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) >= 2
    xlsx = client.get("/api/results.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)["results"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(COLUMNS) and len(rows) >= 2
    sky = rows[1][COLUMNS.index("sky_fraction")]
    assert isinstance(sky, float) and 0 <= sky <= 1


def test_events_push_status_and_rows(server: Server) -> None:
    import httpx

    events: dict[str, Any] = {}
    with httpx.stream("GET", f"{server.url}/api/events", params={"since": 0}, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        name = None
        deadline = time.monotonic() + 20
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events[name] = json.loads(line[6:])
            if {"status", "rows"} <= set(events) or time.monotonic() > deadline:
                break
    assert events["status"]["frames"] >= 0 and "conf" in events["status"]
    assert events["rows"] and "sky_fraction" in events["rows"][0]


def test_events_for_a_page_from_before_a_restart(server: Server) -> None:
    import httpx

    with httpx.stream("GET", f"{server.url}/api/events", params={"since": 10**12}, timeout=30) as response:
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif name == "rows" and line.startswith("data: "):
                assert json.loads(line[6:])[0]["seq"] >= 1
                break


def _detect(client: Any, path: Path, name: str | None = None) -> Any:
    with open(path, "rb") as f:
        return client.post("/api/detect", files={"file": (name or path.name, f, "application/octet-stream")})


@pytest.mark.parametrize("key", ["good", "deep", "jpeg"])
def test_detect_saves_like_skyseg_run(client: Any, server: Server, upload_files: dict[str, Path], key: str) -> None:
    response = _detect(client, upload_files[key])
    assert response.status_code == 200, response.text
    body = response.json()
    name = upload_files[key].name
    assert body["frames"] == 1 and body["errors"] == 0 and body["name"] == name
    row = body["rows"][0]
    assert row["source"] == f"upload:{name}" and 0 <= row["sky_fraction"] <= 1 and row["error"] == ""
    folder = server.save_dir / body["saved_in"]
    assert (folder / name).is_file() and (folder / "results.csv").is_file()
    assert len(list((folder / "masks").glob("*_mask.png"))) == 1
    assert len(list((folder / "annotated").glob("*.jpg"))) == 1
    preview = client.get(f"/{body['image']}")
    assert preview.status_code == 200 and preview.content[:3] == b"\xff\xd8\xff"
    seqs = {r["seq"] for r in client.get("/api/results", params={"per_page": 200}).json()["rows"]}
    assert row["seq"] in seqs


def test_detect_fits_frame(client: Any, realsky_dir: Path) -> None:
    fits = sorted(realsky_dir.glob("*.fits"))
    if not fits:
        pytest.skip(f"no .fits frame in {realsky_dir}")
    response = _detect(client, fits[0])
    assert response.status_code == 200, response.text
    assert response.json()["rows"][0]["instances"] >= 0


@pytest.mark.parametrize(("key", "status_code", "needle"), [
    ("corrupt", 422, "corrupt"), ("pickle", 415, "skyseg export"), ("text", 415, "not accepted"),
    ("misnamed", 415, "does not look like a PNG"), ("big", 413, "limit"),
])
def test_detect_refuses_bad_uploads(client: Any, server: Server, upload_files: dict[str, Path], key: str,
                                    status_code: int, needle: str) -> None:
    before = status(client)
    uploads = server.save_dir / "uploads"
    kept = {p.name for p in uploads.iterdir()} if uploads.is_dir() else set()
    response = _detect(client, upload_files[key])
    assert response.status_code == status_code, response.text
    message = response.json()["error"]
    assert needle in message
    if key != "big":
        assert upload_files[key].name in message
    assert str(server.save_dir) not in message  # no server paths in messages
    assert ({p.name for p in uploads.iterdir()} if uploads.is_dir() else set()) == kept  # nothing left behind
    wait_for(lambda: status(client)["frames"] > before["frames"], what="the live source to go on")
    assert status(client)["state"] == "running"


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"files": {"other": ("a.png", b"\x89PNG\r\n\x1a\n...", "image/png")}}, "field named 'file'"),
    ({"json": {"file": "a.png"}}, "multipart/form-data"),
    ({"files": {"file": ("empty.png", b"", "image/png")}}, "empty"),
])
def test_detect_refuses_bad_forms(client: Any, kwargs: dict[str, Any], needle: str) -> None:
    response = client.post("/api/detect", **kwargs)
    assert response.status_code == 400 and needle in response.json()["error"]


def test_upload_names_cannot_escape_the_save_dir(client: Any, server: Server, upload_files: dict[str, Path]) -> None:
    response = _detect(client, upload_files["good"], name="../../../escape.png")
    assert response.status_code == 200, response.text
    folder = server.save_dir / response.json()["saved_in"]
    assert (folder / "escape.png").is_file()
    assert not any(p.name == "escape.png" for p in server.save_dir.parent.rglob("escape.png")
                   if server.save_dir not in p.parents)


@pytest.mark.gstreamer
def test_detect_short_video(client: Any, server: Server, tmp_path: Path) -> None:
    pytest.importorskip("gi", reason="video uploads are decoded by GStreamer (PyGObject not installed)")
    from skyseg.synth import render_scene

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (320, 240))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write an MJPEG AVI here")
    for i in range(6):
        writer.write(cv2.cvtColor(render_scene(20 + i, kind="allsky", size=(320, 240)).image, cv2.COLOR_RGB2BGR))
    writer.release()
    response = _detect(client, clip)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames"] == 6 and len(body["rows"]) == 6
    folder = server.save_dir / body["saved_in"]
    assert (folder / "annotated.mp4").is_file() and len(list((folder / "masks").glob("*.png"))) == 6


def test_models_list_switch_and_upload(client: Any, server: Server, upload_files: dict[str, Path],
                                       tmp_path: Path) -> None:
    listed = client.get("/api/models").json()
    keys = [m["key"] for m in listed["models"]]
    assert listed["current"] == "bundled:skyseg-n.onnx" and listed["current"] in keys
    assert "folder:alt.onnx" in keys and not any("notes" in k for k in keys)
    assert client.post("/api/model", json={"key": "folder:nope.onnx"}).status_code == 404
    bad = client.post("/api/models/upload", files={"file": ("broken.onnx", upload_files["bad_onnx"].read_bytes())})
    assert bad.status_code == 400 and "broken.onnx" in bad.json()["error"]
    assert not (server.save_dir / "models" / "broken.onnx").exists()
    pickle = client.post("/api/models/upload", files={"file": ("w.pt", b"\x80\x02junk")})
    assert pickle.status_code == 415 and "skyseg export" in pickle.json()["error"]
    from skyseg.runtime.bundled_model import bundled_model_path

    mine = tmp_path / "mine.onnx"
    shutil.copy(bundled_model_path(), mine)
    try:
        with open(mine, "rb") as f:
            up = client.post("/api/models/upload", files={"file": ("mine.onnx", f)})
        assert up.status_code == 200, up.text
        key = up.json()["key"]
        assert status(client)["model_key"] == key and (server.save_dir / "models" / "mine.onnx").is_file()
        before = status(client)["frames"]
        wait_for(lambda: status(client)["frames"] > before, what="frames through the new model")
    finally:
        back = client.post("/api/model", json={"key": "bundled:skyseg-n.onnx"})
    assert back.status_code == 200 and status(client)["model"] == "skyseg-n.onnx"


def test_unknown_route_is_a_json_sentence(client: Any) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404 and "GET /api/nothing" in response.json()["error"]
    assert client.get("/api/detect").status_code == 405


def test_page_and_static_files(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="live"' in page.text
    for testid in ("conf-slider", "iou-slider", "model-picker", "upload", "results-table", "download-xlsx",
                   "sky-chart"):
        assert f'data-testid="{testid}"' in page.text
    for name in ("app.js", "sky_chart.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for name in ("/", "/static/app.js", "/static/sky_chart.js", "/static/style.css"):
        assert "://" not in client.get(name).text  # nothing fetched from elsewhere: works offline


def test_other_sites_cannot_reach_a_tokenless_server(client: Any) -> None:
    rebound = client.get("/api/status", headers={"Host": "evil.example:8765"})
    assert rebound.status_code == 403 and "loopback" in rebound.json()["error"]
    cross = client.post("/api/settings", json={"conf": 0.9}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "another site" in cross.json()["error"]
    assert status(client)["conf"] != 0.9
    host = client.base_url.netloc.decode()
    same = client.post("/api/settings", json={"conf": 0.25}, headers={"Origin": f"http://{host}"})
    assert same.status_code == 200
