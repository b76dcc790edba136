"""What a benchmark number depends on: CPU model, threads, other load, library versions, GPU clocks/power mode.

Everything here is read-only and best-effort: a probe that is unavailable (no nvidia-smi, no /proc) yields None,
never an exception, because a benchmark must not fail for lack of a description of the machine. Nothing here
imports torch or any accelerator library; versions come from package metadata.
"""
from __future__ import annotations

import logging
import os
import platform
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from skyseg.runtime.host import cpu_model  # re-exported: benches describe the machine with it

log = logging.getLogger(__name__)

# Distributions whose versions explain a number; looked up in package metadata, never imported.
VERSIONED_PACKAGES = (
    "skyseg",
    "numpy",
    "opencv-python",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "tensorrt",
    "cuda-python",
    "torch",
    "ultralytics",
)
_PROBE_TIMEOUT_S = 5.0


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), falling back to os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_settings() -> dict[str, object]:
    """Thread-related environment and affinity that change inference speed."""
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ}
    try:
        affinity: list[int] | None = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {"cpu_count": os.cpu_count(), "affinity": affinity, "env": env}


def library_versions(packages: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that matter, from metadata (absent ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if platform.system() == "Darwin" else peak / 1024


@dataclass(frozen=True)
class CpuLoad:
    """CPU use by OTHER processes while we measured: in cores (0..n_cpus) and as a fraction of all cores."""

    other_cores: float
    other_fraction: float
    own_cores: float
    wall_s: float
    method: str  # "/proc/stat" or "loadavg"


def _read_proc_stat(path: Path = Path("/proc/stat")) -> tuple[float, float] | None:
    """(busy seconds, total seconds) summed over all CPUs since boot, or None when unreadable."""
    try:
        first = path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    ticks += [0] * (8 - len(ticks))
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    idle = ticks[3] + ticks[4]
    total = sum(ticks)
    return (total - idle) / hz, total / hz


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuLoadMeter:
    """Measures other processes' CPU use over a with-block: /proc/stat busy time minus our own CPU time."""

    def __init__(self) -> None:
        self._start: tuple[float, float, float, float | None] | None = None
        self.result: CpuLoad | None = None

    def start(self) -> CpuLoadMeter:
        """Begin measuring (what `with` does); returns self."""
        stat = _read_proc_stat()
        self._start = (time.perf_counter(), _own_cpu_seconds(), stat[0] if stat else 0.0, stat[1] if stat else None)
        return self

    def __enter__(self) -> CpuLoadMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.result = self.stop()

    def stop(self) -> CpuLoad:
        """The load since __enter__ (may be called once the block ends, or earlier)."""
        if self._start is None:
            raise RuntimeError("CpuLoadMeter.stop() called before the meter was started")
        t0, own0, busy0, total0 = self._start
        wall = max(time.perf_counter() - t0, 1e-9)
        own = (_own_cpu_seconds() - own0) / wall
        ncpu = os.cpu_count() or 1
        stat = _read_proc_stat()
        if stat is not None and total0 is not None and stat[1] > total0:
            busy_cores = (stat[0] - busy0) / (stat[1] - total0) * ncpu
            other = max(0.0, busy_cores - own)
            return CpuLoad(round(other, 3), round(other / ncpu, 3), round(own, 3), round(wall, 3), "/proc/stat")
        one_minute = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        other = max(0.0, one_minute - own)
        return CpuLoad(round(other, 3), round(other / ncpu, 3), round(own, 3), round(wall, 3), "loadavg")


def _probe(argv: list[str]) -> str | None:
    """Run a read-only system tool and return its stdout, or None when absent/failing/slow."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.debug("probe %s failed: %s", argv[0], err)
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


_NVSMI_FIELDS = ("name", "driver_version", "clocks.sm", "clocks.mem", "clocks.max.sm", "power.draw", "pstate")


def gpu_info() -> dict[str, object]:
    """GPU name, clocks and power state (nvidia-smi), Jetson power mode (nvpmodel -q) and one tegrastats line.

    Each probe is optional; a key is present only when its tool answered.
    """
    info: dict[str, object] = {}
    smi = _probe(["nvidia-smi", f"--query-gpu={','.join(_NVSMI_FIELDS)}", "--format=csv,noheader"])
    if smi:
        info["nvidia_smi"] = [dict(zip(_NVSMI_FIELDS, (v.strip() for v in row.split(",")))) for row in smi.splitlines()]
    mode = _probe(["nvpmodel", "-q"])
    if mode:
        info["nvpmodel"] = mode.splitlines()
    if shutil.which("tegrastats"):
        info["tegrastats"] = _first_tegrastats_line()
    return info


def _first_tegrastats_line() -> str | None:
    """tegrastats streams forever; read its first line and stop it."""
    try:
        proc = subprocess.Popen(["tegrastats", "--interval", "200"], stdout=subprocess.PIPE, text=True)
    except OSError:
        return None
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=_PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
    return line or None


def machine_summary() -> dict[str, object]:
    """The machine-level conditions recorded with every benchmark."""
    return {
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "threads": thread_settings(),
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "versions": library_versions(),
        "gpu": gpu_info(),
    }
