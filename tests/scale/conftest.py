"""Scale-out tests: this folder's helper modules (broker.py, triton_server.py, ...) importable by name; the real
Mosquitto `broker` fixture is in tests/conftest.py, shared with tests/serve."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray with 2 CPUs for one test module (FACTS: size actor pools so read tasks keep a CPU)."""
    ray = pytest.importorskip("ray", reason="ray is in the 'scale' extra that install.sh installs")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    ray.init(num_cpus=2, include_dashboard=False)
    for sig, handler in handlers.items():  # ray.init's SIGTERM handler sys.exit()s the whole test process, so a
        signal.signal(sig, handler)        # later SIGTERM test (a watch folder's) would fail after this module
    yield ray
    ray.shutdown()
