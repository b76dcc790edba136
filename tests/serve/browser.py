"""Debian's Chromium driven by Playwright (Playwright's own browser downloads are impossible here): how to launch it."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """/usr/bin/chromium (Debian's package), or whatever `chromium` is on PATH; None when absent."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def launch(playwright: Any, user_data_dir: Path, **context: Any) -> Any:
    """A persistent context in a fresh user-data dir (so nothing leaks between runs), downloads allowed."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
        accept_downloads=True, **context)
