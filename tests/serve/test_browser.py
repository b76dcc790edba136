"""The dashboard in a real browser (Playwright driving Debian's Chromium) against a real `skyseg serve`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from browser import chromium_path, launch
from serve_process import Server, wait_for

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[serve]')")
pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Chromium is not installed (apt-get install chromium; install.sh does it)")

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch(playwright, tmp_path_factory.mktemp("chromium-profile"), viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture()
def page(browser_context: Any, server: Server) -> Iterator[Any]:
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.get_by_test_id("live").wait_for()
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def live_frame(page: Any) -> int:
    value = page.get_by_test_id("live").get_attribute("data-frame")
    return int(value) if value else 0


def api_status(client: Any) -> dict[str, Any]:
    return client.get("/api/status").json()


def test_live_image_updates_by_itself(page: Any) -> None:
    first = wait_for(lambda: live_frame(page), what="the first live frame on the page")
    wait_for(lambda: live_frame(page) > first, what="the live image to change")
    assert page.get_by_test_id("live").evaluate("img => img.naturalWidth") == 320
    assert page.get_by_test_id("connection").inner_text() == "live"  # pushed by server-sent events, not polled
    page.get_by_test_id("view-mask").click()
    wait_for(lambda: page.get_by_test_id("live").get_attribute("data-view") == "mask", what="the mask view")
    page.get_by_test_id("view-overlay").click()


def test_confidence_slider_changes_the_server(page: Any, client: Any) -> None:
    try:
        page.get_by_test_id("conf-slider").fill("0.55")
        wait_for(lambda: api_status(client)["conf"] == 0.55, what="/api/status to follow the slider")
        wait_for(lambda: "0.55" in page.get_by_test_id("message").inner_text(), what="the page to confirm it")
        page.get_by_test_id("iou-slider").fill("0.5")
        wait_for(lambda: api_status(client)["iou"] == 0.5, what="/api/status to follow the IoU slider")
    finally:
        client.post("/api/settings", json={"conf": 0.25, "iou": 0.7})


def test_upload_good_and_corrupt_images(page: Any, client: Any, upload_files: dict[str, Path]) -> None:
    page.get_by_test_id("upload").set_input_files(str(upload_files["good"]))
    message = page.get_by_test_id("message")
    wait_for(lambda: "good.png:" in message.inner_text(), what="the upload's result message")
    assert "ok" in (message.get_attribute("class") or "")
    row = page.get_by_test_id("results-table").locator('tbody tr[data-source="upload:good.png"]')
    row.first.wait_for()
    assert "%" in row.first.inner_text()
    assert page.get_by_test_id("detect-result").evaluate("img => img.complete && img.naturalWidth") == 320

    page.get_by_test_id("upload").set_input_files(str(upload_files["corrupt"]))
    wait_for(lambda: "error" in (message.get_attribute("class") or ""), what="the corrupt upload's message")
    text = message.inner_text()
    assert text.startswith("corrupt.png") and "corrupt" in text[12:] and page.get_by_test_id("detect-result").is_hidden()
    frames = api_status(client)["frames"]
    wait_for(lambda: api_status(client)["frames"] > frames, what="the live source to keep going")


def test_pickles_are_refused_with_the_export_hint(page: Any, upload_files: dict[str, Path]) -> None:
    page.get_by_test_id("upload").set_input_files(str(upload_files["pickle"]))
    message = page.get_by_test_id("message")
    wait_for(lambda: "skyseg export" in message.inner_text(), what="the .pt refusal")
    assert "skyseg export" in page.locator(".hint").inner_text()


def test_download_xlsx_opens_in_openpyxl(page: Any, tmp_path: Path) -> None:
    import openpyxl

    from skyseg.runtime.sinks.table import COLUMNS

    with page.expect_download() as info:
        page.get_by_test_id("download-xlsx").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    rows = list(openpyxl.load_workbook(saved, read_only=True)["results"].iter_rows(values_only=True))
    assert list(rows[0]) == list(COLUMNS) and len(rows) >= 2


def test_models_chart_and_table_are_there(page: Any) -> None:
    picker = page.get_by_test_id("model-picker")
    wait_for(lambda: picker.locator("option").count() >= 1, what="the model list")
    assert picker.input_value() == "bundled:skyseg-n.onnx"
    box = page.get_by_test_id("sky-chart").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100
    wait_for(lambda: page.get_by_test_id("results-table").locator("tbody tr").count() >= 2, what="table rows")
    # the chart has drawn something besides the background: some pixels are the sky line's blue
    blue = page.get_by_test_id("sky-chart").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                  for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 120) n++; return n; }""")
    assert blue > 20


def test_model_picker_switches_without_restart(page: Any, client: Any) -> None:
    picker = page.get_by_test_id("model-picker")
    wait_for(lambda: picker.locator("option").count() >= 2, what="the models folder in the picker")
    before = api_status(client)["frames"]
    try:
        picker.select_option("folder:alt.onnx")
        wait_for(lambda: api_status(client)["model"] == "alt.onnx", what="/api/status to report the new model")
        wait_for(lambda: "now running alt.onnx" in page.get_by_test_id("message").inner_text(), what="the page")
        wait_for(lambda: api_status(client)["frames"] > before + 1, what="frames through the new model")
        assert api_status(client)["state"] == "running"
    finally:
        client.post("/api/model", json={"key": "bundled:skyseg-n.onnx"})


def test_phone_sized_page_has_no_sideways_scroll(browser_context: Any, server: Server) -> None:
    page = browser_context.new_page()
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(server.url + "/")
        page.get_by_test_id("live").wait_for()
        time.sleep(0.5)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    finally:
        page.close()
