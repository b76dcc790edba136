"""Keep the inference libraries from writing outside the save dir or calling home.

ONNX Runtime 1.32 writes a device id and an event database under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`
when its environment is created, unless `ORT_DISABLE_TELEMETRY=1` is set first. `import openvino` imports its
converter (`openvino.tools.ovc`), which starts the `openvino_telemetry` package: it writes `~/intel/stats` and
`~/intel/openvino_ga_cid` and sends an "import" event. When `openvino_telemetry` cannot be imported, OpenVINO uses its
own no-op stub (`openvino.tools.ovc.telemetry_stub`), so it is marked as absent for this process. Both are set only
if the user has not decided otherwise (an `ORT_DISABLE_TELEMETRY` already in the environment, `openvino_telemetry`
already imported).
"""
from __future__ import annotations

import os
import sys


def switch_off() -> None:
    """Before the first `import onnxruntime` / `import openvino`: no telemetry files, ids or events (idempotent)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment] - `import` then raises ImportError
