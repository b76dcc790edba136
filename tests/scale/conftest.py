"""Scale-out tests: this folder's helper modules (broker.py, triton_server.py, ...) importable by name; the real
Mosquitto `broker` fixture is in tests/conftest.py, shared with tests/serve."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
