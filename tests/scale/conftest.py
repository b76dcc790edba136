"""Scale-out tests: a real Mosquitto broker per test (started on a free loopback port, stopped after)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from broker import Broker  # noqa: E402


@pytest.fixture()
def broker(tmp_path: Path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
