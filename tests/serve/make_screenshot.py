"""Take docs/serve.png: `skyseg serve` on the sample real-sky frames, looped at a camera-like pace, one upload,
photographed by Playwright in Debian's Chromium.

    .venv/bin/python tests/serve/make_screenshot.py [--out docs/serve.png] [--seconds 40]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from browser import launch  # after the sys.path line that finds it
from serve_process import start_server, stop_server, wait_for  # after the sys.path line that finds it

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("make_screenshot")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "serve.png")
    parser.add_argument("--source", default=str(REPO / "datasets" / "realsky" / "images" / "val"))
    parser.add_argument("--seconds", type=float, default=40.0, help="let the night chart grow this long first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="skyseg-shot-") as tmp:
        server = start_server(Path(tmp), "--loop", "--max-fps", "1.5", "--threads", "1", source=args.source)
        try:
            time.sleep(args.seconds)
            with sync_playwright() as playwright:
                context = launch(playwright, Path(tmp) / "profile", viewport={"width": 1400, "height": 1000},
                                 device_scale_factor=1)
                page = context.new_page()
                page.goto(server.url + "/")
                wait_for(lambda: page.get_by_test_id("live").get_attribute("data-frame"), what="a live frame")
                jpgs = sorted(Path(args.source).glob("*.jpg"))
                if jpgs:
                    page.get_by_test_id("upload").set_input_files(str(jpgs[0]))
                    wait_for(lambda: "saved in" in page.get_by_test_id("message").inner_text(), what="the upload")
                time.sleep(2.0)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), full_page=True)
                context.close()
        finally:
            stop_server(server)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
