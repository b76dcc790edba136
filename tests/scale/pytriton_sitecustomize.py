"""Copied as sitecustomize.py into the PyTriton test venv. PyTriton's Python-backend stub embeds an older 3.11
libpython than this machine's 3.11.7 standard library expects: its C RLock lacks `_recursion_count`, which 3.11.7's
multiprocessing.resource_tracker calls. The pure-Python RLock of the same library has it."""
import threading

try:
    threading.RLock()._recursion_count  # noqa: B018 - probing for the attribute is the point
except AttributeError:
    import multiprocessing.resource_tracker as _rt

    _rt._resource_tracker._lock = threading._PyRLock()
