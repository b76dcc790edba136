"""TensorRT version edges of `skyseg build`: what JetPack 5.1 (8.5), 8.6, JetPack 6 (10.3) and 11.x can and cannot do.

Pure planning and the timing-cache fallback; the fallback is driven through a stand-in builder config because no
TensorRT exists on this machine (the stand-in behaves as NVIDIA documents: `create_timing_cache` may return None,
`set_timing_cache` returns False for a cache another version or GPU wrote).
"""
from __future__ import annotations

import logging
import shlex
from pathlib import Path

import pytest

from skyseg.export.onnx_info import OnnxInfo, TensorInfo
from skyseg.export.trt.build import (
    BuildConfig,
    calib_cache_path,
    lint_target,
    parse_trt_version,
    plan_build,
    trtexec_command,
)
from skyseg.export.trt.engine import attach_timing_cache
from skyseg.export.trt.ops import TARGETS
from skyseg.runtime.errors import InputError


def _info(precision: str = "fp32") -> OnnxInfo:
    ops = {"Conv": 90}
    types = {"fp16": 118} if precision == "fp16" else {"fp32": 118}
    return OnnxInfo(Path("m.onnx"), 17, (TensorInfo("images", "float32", (1, 3, 384, 640)),),
                    (TensorInfo("output0", "float32", (1, 37, 5040)), TensorInfo("output1", "float32", (1, 32, 96, 160))),
                    {"imgsz": [384, 640]}, ops, types)


def _cfg(**kw) -> BuildConfig:
    return BuildConfig(onnx=Path("m.onnx"), output=Path("out/m.engine"), **kw)


def test_versions_keep_the_patch_level():
    assert parse_trt_version("11.4.1.7") == (11, 4, 1)
    assert parse_trt_version("11.4.0") == (11, 4, 0)
    assert parse_trt_version("8.5.2.2") == (8, 5, 2)
    assert parse_trt_version("10.3") == (10, 3, 0)


def test_dla_guard_tells_11_4_0_from_11_4_1():
    cfg = _cfg(precision="fp16", dla_core=0, gpu_fallback=True)
    with pytest.raises(InputError, match=r"TensorRT 11\.4\.0 has no DLA support"):
        plan_build(cfg, parse_trt_version("11.4.0.3"), _info("fp16"))
    plan = plan_build(cfg, parse_trt_version("11.4.1.2"), _info("fp16"))
    assert "GPU_FALLBACK" in plan.builder_flags and plan.trt_version == (11, 4, 1)


def test_builder_optimization_level_only_from_8_6():
    with pytest.raises(InputError, match=r"--opt-level needs TensorRT 8\.6"):
        plan_build(_cfg(precision="fp16", opt_level=3), (8, 5, 2), _info())
    assert plan_build(_cfg(precision="fp16", opt_level=3), (8, 6, 1), _info()).builder_flags == ("FP16",)
    assert plan_build(_cfg(precision="fp16"), (8, 5, 2), _info()).builder_flags == ("FP16",)  # JetPack 5.1 builds


def test_tensorrt_below_8_5_is_refused():
    # JetPack 5.0.2 ships 8.4: no num_io_tensors / set_input_shape / execute_async_v3 for the runtime
    with pytest.raises(InputError, match=r"TensorRT 8\.4 is too old.*JetPack 5\.1"):
        plan_build(_cfg(precision="fp16"), (8, 4, 1), _info())


def test_trtexec_line_for_int8_without_a_cache_names_the_cache_build_writes():
    cfg = _cfg(precision="int8", calib_dir=Path("frames"))
    plan = plan_build(cfg, (10, 3, 0), _info())
    args = shlex.split(trtexec_command(cfg, plan))
    assert "--int8" in args and "--calib=out/m.engine.calib" in args
    assert calib_cache_path(cfg) == Path("out/m.engine.calib")
    named = _cfg(precision="int8", calib_cache=Path("scales.cache"))
    assert "--calib=scales.cache" in shlex.split(trtexec_command(named, plan_build(named, (8, 6, 1), _info())))
    fp16 = _cfg(precision="fp16")
    assert not any(a.startswith("--calib") for a in shlex.split(trtexec_command(fp16, plan_build(fp16, (10, 3), _info()))))


@pytest.mark.parametrize(("version", "target"), [
    ("8.5.2.2", "8.5"), ("8.6.1.6", "8.6"), ("10.3.0.30", "10.3"), ("10.0.1", "10.3"), ("10.13.2", "10"),
    ("11.4.1", "11"),
])
def test_lint_target_follows_the_build_host(version, target):
    assert lint_target(parse_trt_version(version)) == target
    assert target in TARGETS


class _Config:
    """Stand-in for trt.IBuilderConfig's timing-cache calls: `refuse` = blobs it cannot make a cache of (None),
    `mismatch` = caches set_timing_cache rejects."""

    def __init__(self, refuse=(), mismatch=()):
        self.refuse, self.mismatch, self.attached = set(refuse), set(mismatch), None

    def create_timing_cache(self, blob):
        return None if blob in self.refuse else ("cache", blob)

    def set_timing_cache(self, cache, ignore_mismatch):
        if cache is None:
            raise TypeError("set_timing_cache(): incompatible function arguments")  # what pybind11 does with None
        if cache[1] in self.mismatch:
            return False
        self.attached = cache
        return True


def test_timing_cache_none_from_a_stale_file_falls_back_to_a_fresh_cache(tmp_path, caplog):
    path = tmp_path / "t.cache"
    path.write_bytes(b"old-version")
    config = _Config(refuse={b"old-version"})
    with caplog.at_level(logging.WARNING):
        cache = attach_timing_cache(config, path)
    assert cache == ("cache", b"") and config.attached == cache
    assert "does not fit" in caplog.text


def test_timing_cache_mismatch_then_fresh(tmp_path):
    path = tmp_path / "t.cache"
    path.write_bytes(b"other-gpu")
    config = _Config(mismatch={b"other-gpu"})
    assert attach_timing_cache(config, path) == ("cache", b"")


def test_no_timing_cache_at_all_builds_without_one(tmp_path, caplog):
    path = tmp_path / "t.cache"
    path.write_bytes(b"x")
    config = _Config(refuse={b"x", b""})
    with caplog.at_level(logging.WARNING):
        assert attach_timing_cache(config, path) is None
    assert config.attached is None and path.read_bytes() == b"x" and "without one" in caplog.text
    assert attach_timing_cache(_Config(), tmp_path / "new.cache") == ("cache", b"")
