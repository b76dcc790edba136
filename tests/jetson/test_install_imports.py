"""jetson/install.sh installs everything `skyseg build`, `run` and `serve` import, refuses JetPack 5.0 (TensorRT 8.4),
and checks CUDA through the bindings the TensorRT backend calls.

The imports are read from the source: every `import` (module level or inside a function) of every skyseg module
the three commands can reach from `skyseg.cli.main`, followed transitively. Each third-party module found must be
installed by install.sh (pip lists or apt packages) or be an optional feature that is imported only when asked for.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "jetson" / "install.sh"
COMMANDS = {"build": "skyseg.cli.deploy.build", "run": "skyseg.cli.operate.run", "serve": "skyseg.cli.operate.serve"}
PIP_MODULES = {  # import name -> distribution install.sh pip-installs
    "numpy": "numpy", "onnxruntime": "onnxruntime", "astropy": "astropy", "openpyxl": "openpyxl", "yaml": "pyyaml",
    "cuda": "cuda-python", "onnx": "onnx", "starlette": "starlette", "uvicorn": "uvicorn",
    "python_multipart": "python-multipart",
}
APT_MODULES = {"tensorrt": "python3-libnvinfer", "gi": "python3-gi", "cv2": "nvidia-opencv"}
OPTIONAL = {  # imported only inside the function that needs it; not installed on the board by default
    "cupy": "GPU preprocessing (--gpu-preprocess); falls back to NumPy",
    "openvino": "--backend openvino (x86 CPUs)",
    "tritonclient": "--backend triton (a remote Triton server)",
    "paho": "the MQTT sink (--mqtt)",
    "torch": "a GPU-name fallback in skyseg build when cuda-python cannot tell",
}
_DIRS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def _path(module: str) -> Path | None:
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        key = ".".join(parts[:n])
        if key in _DIRS:
            base = REPO / _DIRS[key] / Path(*parts[n:])
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
    return None


def third_party_imports(entry: str) -> dict[str, dict[str, bool]]:
    """{top-level module: {importing skyseg module: imported at module level?}} for everything reachable."""
    found: dict[str, dict[str, bool]] = {}
    seen: set[str] = set()
    todo = ["skyseg.cli.main", entry]
    while todo:
        module = todo.pop()
        path = _path(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        tree = ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "skyseg":
                    todo.append(name)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    at_top = found.setdefault(top, {}).get(module, False)
                    found[top][module] = at_top or id(node) in top_level
    return found


def _bash_array(name: str) -> list[str]:
    body = re.search(rf"^readonly {name}=\((.*?)^\)", INSTALL.read_text(), re.S | re.M)
    assert body, f"array {name} not found in install.sh"
    return [w.strip('"') for line in body.group(1).splitlines() for w in line.split("#")[0].split()]


def _apt_packages() -> set[str]:
    block = re.search(r"APT_PACKAGES=\((.*?)\n\s*\)", INSTALL.read_text(), re.S).group(1)
    return {w for line in block.splitlines() for w in line.split("#")[0].split()}


def _pip_names() -> set[str]:
    names = _bash_array("RUNTIME_DEPS") + _bash_array("COMMAND_DEPS")
    return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in names} | {"cuda-python"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_install_sh_installs_what_the_command_imports(command: str) -> None:
    pip, apt = _pip_names(), _apt_packages()
    problems = []
    for top, sites in sorted(third_party_imports(COMMANDS[command]).items()):
        if top in PIP_MODULES and PIP_MODULES[top] in pip or top in APT_MODULES and APT_MODULES[top] in apt:
            continue
        eager = sorted(m for m, at_top in sites.items() if at_top)
        if top in OPTIONAL and not eager:
            continue
        where = ", ".join(sorted(sites)[:3])
        problems.append(f"{top} (imported by {where}{'; at module level in ' + ', '.join(eager) if eager else ''})")
    assert problems == [], f"skyseg {command} imports what jetson/install.sh does not install: {problems}"


def test_the_import_scan_sees_build_needing_onnx() -> None:
    build = third_party_imports(COMMANDS["build"])
    assert build["onnx"]["skyseg.export.trt.lint"] is True  # module level: `skyseg build` fails without onnx
    assert {"tensorrt", "numpy"} <= set(build)
    assert "starlette" in third_party_imports(COMMANDS["serve"])


def test_command_deps_keep_pyproject_lower_bounds() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    declared = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower(): r for r in extras["train"] + extras["serve"]}
    for requirement in _bash_array("COMMAND_DEPS"):
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        assert requirement == declared[name], f"{requirement} differs from pyproject's {declared[name]}"


def _install(tmp_path: Path, release: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYSEG_")}
    env.update(SKYSEG_TEGRA_RELEASE=str(tmp_path / "rel"), SKYSEG_CUDA_VERSION_JSON=str(tmp_path / "none.json"),
               SKYSEG_PYTHON=sys.executable, PATH="/usr/bin:/bin")
    (tmp_path / "rel").write_text(release)
    return subprocess.run(["bash", str(INSTALL), "--dry-run", "--no-apt", "--venv", str(tmp_path / "v"), *args],
                          env=env, capture_output=True, text=True, timeout=60)


JP50 = "# R35 (release), REVISION: 1.0, GCID: 31346300, BOARD: t186ref, EABI: aarch64, DATE: Thu Aug 25 18:41:45 UTC 2022\n"
JP51 = "# R35 (release), REVISION: 2.1, GCID: 32413640, BOARD: t186ref, EABI: aarch64, DATE: Tue Jan 24 23:38:33 UTC 2023\n"


def test_jetpack_5_0_is_refused_for_its_tensorrt_8_4(tmp_path: Path) -> None:
    proc = _install(tmp_path, JP50)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("E install.sh: L4T 35.1.0 is JetPack 5.0.x, whose TensorRT 8.4") and "JetPack 5.1" in last


def test_jetpack_5_1_plan_installs_onnx_and_checks_cuda_like_the_backend(tmp_path: Path) -> None:
    proc = _install(tmp_path, JP51, "--force")  # --force: this CI machine is not aarch64
    assert proc.returncode == 0, proc.stderr
    pip = next(line for line in proc.stdout.splitlines() if "pip install -c" in line and "--no-deps" not in line)
    for requirement in ("onnx>=1.15", "starlette>=0.40", "uvicorn>=0.30", "python-multipart>=0.0.18", "numpy>=1.23,<2"):
        assert requirement in pip
    assert f"check: {tmp_path}/v/bin/python {REPO}/jetson/cuda_check.py" in proc.stdout
    assert "raise SystemExit(v < (8, 5))" in proc.stdout
    assert "cuInit" not in proc.stdout


def test_cuda_check_reads_every_call_the_backend_makes() -> None:
    sys.path.insert(0, str(REPO / "jetson"))
    try:
        import cuda_check
    finally:
        sys.path.remove(str(REPO / "jetson"))
    calls = cuda_check.backend_calls()
    assert {"cudaMalloc", "cudaMemcpyAsync", "cudaGraphLaunch", "cudaGraphInstantiateWithFlags", "cudaStreamDestroy",
            "cudaGraphExecDestroy"} <= calls


def test_cuda_check_without_a_gpu_fails_with_one_sentence() -> None:
    pytest.importorskip("cuda", reason="cuda-python is not installed here")
    proc = subprocess.run([sys.executable, str(REPO / "jetson" / "cuda_check.py")], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode == 0:
        pytest.skip(f"this machine has a working CUDA GPU: {proc.stdout.strip()}")
    assert proc.returncode == 1
    assert re.fullmatch(r"CUDA check failed: CUDA call cuda\w+ failed with cuda\w+ \(\d+\)\.\n", proc.stdout)
