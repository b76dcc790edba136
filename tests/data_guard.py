"""A pytest plugin (loaded by tests/conftest.py; elsewhere `pytest -p data_guard` with tests/ on the path) that
turns a skip for a missing data file or folder into a failure.

Every frame and mask the suite needs is in the repository (datasets/), so such a skip means a test looks in the
wrong place, and a green run would silently leave real-frame behaviour untested. Skips for hardware and packages
that cannot exist on a machine (TensorRT, a GPU, CuPy, GStreamer elements) keep their reasons and stay skips.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

# "... not found at ../shared/data/realsky", "frames missing: data/x.fits", "no .fits frame in /some/folder"
_ABSENT = re.compile(r"\b(not found|missing|does not exist|doesn't exist|no such file|not present)\b", re.I)
_PATH = re.compile(r"(\S*/\S+|\b[\w-]+\.(fits|fit|fts|gz|png|jpe?g|tiff?|json|npy|npz|csv|ya?ml|onnx|pt|txt)\b)", re.I)
_NONE_IN = re.compile(r"\bno\b[^;:]*?\b(frames?|files?|images?|data|masks?|dataset)\b[^;:]*?\bin\s+\S*/", re.I)
_PACKAGE = re.compile(r"\b(pip install|not installed|apt(-get)? install)\b", re.I)


def missing_data_reason(reason: str) -> bool:
    """True when a skip reason says a data file or folder is absent (a path named with not found/missing/...)."""
    if _PACKAGE.search(reason):
        return False
    return bool((_ABSENT.search(reason) and _PATH.search(reason)) or _NONE_IN.search(reason))


def _skip_reason(report: Any) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any):  # a hook wrapper
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if reason is not None and missing_data_reason(reason):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} skipped for missing data ({reason}); the repository holds every frame "
                           "the suite needs (datasets/): point the test at it instead of skipping")
