"""Ray's processes end with the driver that started them, even when it is killed with SIGKILL.

`ray.init()` without an address starts a local Ray (GCS server, raylet, workers) as children of the driver; a driver
killed hard leaves them running (two helper processes of ~180 MB were seen to outlive a `kill -9` of
`skyseg archive`). `guard_local_ray()` starts a small watcher in its own session that polls the driver; when the
driver is gone it terminates every process the driver had started (and their children), then kills what is left
after a grace period. A driver that ends normally shuts Ray down itself; the watcher then finds nothing left to do.

    python -m skyseg.scale.ray_guard DRIVER_PID [GRACE_S]
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

log = logging.getLogger(__name__)

POLL_S = 0.5


def guard_local_ray(grace_s: float = 3.0) -> subprocess.Popen[bytes]:
    """Start the watcher for this process (call right after `ray.init()` started a local Ray)."""
    return subprocess.Popen([sys.executable, "-m", "skyseg.scale.ray_guard", str(os.getpid()), str(grace_s)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def watch(driver: int, grace_s: float) -> int:
    """Track the driver's descendants while it lives; once it is gone, end them all. Returns how many were ended."""
    import psutil

    known: dict[int, psutil.Process] = {}
    me = os.getpid()
    try:
        parent = psutil.Process(driver)
        while parent.is_running() and parent.status() != psutil.STATUS_ZOMBIE:
            for child in parent.children(recursive=True):
                if child.pid != me:
                    known.setdefault(child.pid, child)
            time.sleep(POLL_S)
    except psutil.NoSuchProcess:
        pass
    targets: dict[int, psutil.Process] = {}
    for proc in known.values():  # the orphans now, with whatever they started since
        try:
            if proc.is_running():
                targets[proc.pid] = proc
                for child in proc.children(recursive=True):
                    targets.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    for proc in targets.values():
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(targets.values()), timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return len(targets)


if __name__ == "__main__":
    sys.exit(0 if watch(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 3.0) >= 0 else 1)
