"""Import every skyseg module under the running interpreter (CI on the Jetson Pythons, .ci/jetson_pythons.sh).

A module may be skipped only because the train side (PyTorch, Ultralytics, torchvision) or an optional backend is
absent; any other failure (a TypeError from `tuple[int, int]` on Python 3.8, a SyntaxError, ...) fails the run.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

OPTIONAL = {"torch", "torchvision", "ultralytics", "einops", "onnxslim", "openvino", "tritonclient", "paho", "ray",
            "pyarrow", "cupy", "tensorrt", "playwright", "httpx"}
PACKAGES = ("runtime", "cli", "serve", "bench", "synth", "export", "calib", "label", "scale", "demo")


def main() -> int:
    imported, skipped, failed = 0, [], []
    try:  # the public face (api/): `import skyseg` and every name it offers
        import skyseg

        for name in getattr(skyseg, "__all__", ()):
            getattr(skyseg, name)
        imported += 1
    except Exception as err:
        failed.append(f"skyseg: {type(err).__name__}: {err}")
    for package in PACKAGES:
        root = importlib.import_module(f"skyseg.{package}")
        for info in pkgutil.walk_packages(root.__path__, f"skyseg.{package}."):
            try:
                importlib.import_module(info.name)
                imported += 1
            except ImportError as err:
                missing = (err.name or "").split(".")[0]
                (skipped if missing in OPTIONAL else failed).append(f"{info.name}: {err}")
            except Exception as err:  # every other failure is the finding
                failed.append(f"{info.name}: {type(err).__name__}: {err}")
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"Python {version}: {imported} skyseg modules import; {len(skipped)} need the train side or an optional "
          f"backend ({', '.join(sorted({s.split(':')[0].rsplit('.', 1)[-1] for s in skipped}))})")
    for line in failed:
        print(f"FAIL {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
