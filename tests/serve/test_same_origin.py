"""Only the dashboard's own page (or a client holding the token) may change it: real HTTP against a real server.

Other pages the user has open can send requests to a loopback server too: a sandboxed iframe or a `data:` page
sends `Origin: null`, a plain form sends text/plain or multipart without a CORS preflight.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from serve_process import Server, start_server, stop_server

pytest.importorskip("uvicorn", reason="skyseg serve needs the serve extra: pip install -e '.[serve]'")

TOKEN = "s3cret-token-for-origin-tests"


def _conf(server: Server) -> float:
    import httpx

    return httpx.get(server.url + "/api/status", headers={"Authorization": f"Bearer {TOKEN}"}).json()["conf"]


def _models(server: Server) -> list[str]:
    folder = server.save_dir / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def tokenless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("tokenless"), "--threads", "1", "--max-fps", "2", "--loop")
    yield srv
    stop_server(srv)


def _post(server: Server, path: str, **kwargs: Any) -> Any:
    import httpx

    return httpx.post(server.url + path, timeout=60, **kwargs)


@pytest.mark.parametrize("origin", ["null", None, "http://evil.example", "http://127.0.0.1:1"])
def test_settings_from_elsewhere_are_refused(tokenless: Server, origin: str | None) -> None:
    before = _conf(tokenless)
    headers = {"Content-Type": "text/plain", **({"Origin": origin} if origin is not None else {})}
    response = _post(tokenless, "/api/settings", content=b'{"conf":0.99}', headers=headers)
    assert response.status_code == 403 and response.headers["content-type"] == "application/json"
    sentence = response.json()["error"]
    assert ("another site" in sentence) if origin else ("Origin" in sentence and tokenless.url[7:] in sentence)
    json_too = _post(tokenless, "/api/settings", json={"conf": 0.99},
                     headers={**headers, "Content-Type": "application/json"})
    assert json_too.status_code == 403
    assert _conf(tokenless) == before


def test_model_upload_from_a_sandboxed_frame_is_refused(tokenless: Server, tmp_path: Path) -> None:
    from skyseg.runtime.bundled_model import bundled_model_path

    before = _models(tokenless)
    with open(bundled_model_path(), "rb") as f:
        response = _post(tokenless, "/api/models/upload", files={"file": ("const.onnx", f)},
                         headers={"Origin": "null"})
    assert response.status_code == 403 and "another site (null)" in response.json()["error"]
    assert _models(tokenless) == before
    detect = _post(tokenless, "/api/detect", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n")},
                   headers={"Sec-Fetch-Site": "cross-site", "Origin": tokenless.url})
    assert detect.status_code == 403 and "Sec-Fetch-Site: cross-site" in detect.json()["error"]


def test_the_page_itself_may_change_it(tokenless: Server) -> None:
    page = {"Origin": tokenless.url, "Sec-Fetch-Site": "same-origin"}
    try:
        response = _post(tokenless, "/api/settings", json={"conf": 0.35}, headers=page)
        assert response.status_code == 200 and response.json()["conf"] == 0.35
    finally:
        _post(tokenless, "/api/settings", json={"conf": 0.25}, headers=page)
    plain = _post(tokenless, "/api/settings", content=b'{"conf":0.4}', headers={**page, "Content-Type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["error"]
    form = _post(tokenless, "/api/model", data={"key": "bundled:skyseg-n.onnx"}, headers=page)
    assert form.status_code == 415
    assert _conf(tokenless) == 0.25


def test_with_a_token_the_bearer_header_is_the_proof(tmp_path: Path) -> None:
    import httpx

    server = start_server(tmp_path, "--threads", "1", "--max-fps", "2", token=TOKEN)
    try:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert _post(server, "/api/settings", json={"conf": 0.3}, headers=bearer).status_code == 200
        null = _post(server, "/api/settings", json={"conf": 0.9}, headers={**bearer, "Origin": "null"})
        assert null.status_code == 200  # a page cannot attach the header: whoever sends it holds the token
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            assert browser.get("/", params={"token": TOKEN}).status_code == 200  # sets the cookie
            no_origin = browser.post("/api/settings", json={"conf": 0.5})
            assert no_origin.status_code == 403 and "Authorization: Bearer" in no_origin.json()["error"]
            framed = browser.post("/api/settings", json={"conf": 0.5}, headers={"Origin": "null"})
            assert framed.status_code == 403
            own = browser.post("/api/settings", json={"conf": 0.4}, headers={"Origin": server.url})
            assert own.status_code == 200
        assert _conf(server) == 0.4
    finally:
        assert stop_server(server) == 0
