"""The Jetson installer and container recipe (jetson/install.sh, jetson/Dockerfile): JetPack detection, the
dry-run plan, one-sentence errors, and runtime-only dependencies that match install.sh and pyproject.toml.

Nothing here needs a Jetson: JetPack is faked with an L4T release file and a CUDA version.json.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "jetson"
INSTALL = KIT / "install.sh"
START = KIT / "skyseg-camera.sh"
UNIT = KIT / "skyseg-camera.service"
ENV_FILE = KIT / "skyseg-camera.env"
DOCKERFILE = KIT / "Dockerfile"
SHELL_SCRIPTS = sorted(KIT.glob("*.sh"))

JP6_RELEASE = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n"
JP5_RELEASE = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n"


# --------------------------------------------------------------------------------------------- install.sh


def _on_a_real_jetson() -> bool:
    if Path("/etc/nv_tegra_release").exists():
        return True
    if shutil.which("dpkg-query") is None:
        return False
    return subprocess.run(["dpkg-query", "-W", "nvidia-l4t-core"], capture_output=True).returncode == 0


def _install(tmp_path: Path, *args: str, release: str | None = None, cuda: str | None = None,
             path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYSEG_")}
    env["SKYSEG_TEGRA_RELEASE"] = str(tmp_path / "nv_tegra_release")
    env["SKYSEG_CUDA_VERSION_JSON"] = str(tmp_path / "version.json")
    env["SKYSEG_PYTHON"] = sys.executable
    if release is not None:
        (tmp_path / "nv_tegra_release").write_text(release)
    if cuda is not None:
        (tmp_path / "version.json").write_text(
            '{\n   "cuda" : {\n      "name" : "CUDA SDK",\n      "version" : "%s"\n   }\n}\n' % cuda)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", str(INSTALL), *args], env=env, capture_output=True, text=True, timeout=60)


def test_install_refuses_a_machine_that_is_not_a_jetson(tmp_path: Path) -> None:
    if _on_a_real_jetson():
        pytest.skip("this machine is a Jetson (nvidia-l4t-core installed)")
    proc = _install(tmp_path, "--dry-run")
    assert proc.returncode == 1
    assert proc.stderr.startswith("E install.sh: not a Jetson: found neither ")
    assert "--force" in proc.stderr
    assert "[dry-run]" not in proc.stdout


def test_install_dry_run_force_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    if _on_a_real_jetson():
        pytest.skip("this machine is a Jetson (nvidia-l4t-core installed)")
    venv = tmp_path / "venv"
    proc = _install(tmp_path, "--dry-run", "--force", "--venv", str(venv), "--service", cuda="12.6.68")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "not a Jetson" in proc.stderr and "assuming JetPack 6" in proc.stderr
    assert "== JetPack 6 (L4T unknown), CUDA 12.6" in out
    apt = next(line for line in out.splitlines() if "apt-get install" in line).split()
    for package in ("python3-libnvinfer", "nvidia-l4t-gstreamer", "python3-gi", "gir1.2-gstreamer-1.0",
                    "gstreamer1.0-tools", "nvidia-opencv"):
        assert package in apt
    assert f"[dry-run] {sys.executable} -m venv --system-site-packages {venv}" in out
    pips = [line for line in out.splitlines() if "/bin/pip install" in line]
    assert len(pips) == 3
    assert f"-c {venv}/skyseg-constraints.txt" in pips[1] and "cuda-python==12.6.*" in pips[1]
    assert pips[2].endswith(f"--no-deps {REPO}")
    for line in pips:  # the runtime only: no PyTorch, no Ultralytics, no pip OpenCV
        assert not re.search(r"\b(torch|torchvision|ultralytics|opencv[-\w]*)\b", line), line
    # The OpenCV guard: a loud warning and unsatisfiable pins for every cv2 wheel.
    assert "built WITHOUT GStreamer" in proc.stderr
    for wheel in ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"):
        assert f"\n{wheel}===0+blocked-by-skyseg\n" in out
    assert "\nnumpy<2\n" in out
    # --service: user, files moved into place atomically, unit enabled.
    assert "useradd --system" in out and "--groups video skyseg" in out
    assert re.search(r"mv -f /etc/systemd/system/\.skyseg-camera\.service\.tmp\.\d+ /etc/systemd/system/skyseg-camera\.service", out)
    assert "systemctl enable skyseg-camera.service" in out
    assert "check: gst-inspect-1.0 nvarguscamerasrc" in out
    assert "import tensorrt" in out
    assert not venv.exists(), "--dry-run must not create anything"


@pytest.mark.parametrize(
    ("release", "cuda", "jetpack", "l4t", "cuda_mm", "cuda_python"),
    [
        (JP6_RELEASE, "12.6.68", 6, "36.4.3", "12.6", "cuda-python==12.6.*"),
        (JP5_RELEASE, "11.4.315", 5, "35.4.1", "11.4", "cuda-python==11.8.*"),
        # No CUDA toolkit found: JetPack's documented default for the L4T release.
        (JP6_RELEASE.replace("REVISION: 4.3", "REVISION: 3.0"), None, 6, "36.3.0", "12.2", "cuda-python==12.2.*"),
        (JP5_RELEASE, None, 5, "35.4.1", "11.4", "cuda-python==11.8.*"),
    ],
)
def test_install_detects_jetpack_and_cuda(tmp_path: Path, release: str, cuda: str | None, jetpack: int, l4t: str,
                                          cuda_mm: str, cuda_python: str) -> None:
    # --force only because this CI machine is not aarch64; the JetPack version still comes from the file.
    proc = _install(tmp_path, "--dry-run", "--force", "--no-apt", "--venv", str(tmp_path / "venv"),
                    release=release, cuda=cuda, path="/usr/bin:/bin")
    assert proc.returncode == 0, proc.stderr
    assert f"== JetPack {jetpack} (L4T {l4t}), CUDA {cuda_mm}, venv " in proc.stdout
    assert cuda_python in proc.stdout
    assert "skipping apt (--no-apt)" in proc.stdout and "apt-get install" not in proc.stdout
    assert ("assuming JetPack" in proc.stderr) == (cuda is None)


@pytest.mark.parametrize(
    ("args", "release", "message"),
    [
        (["--jetpack", "7"], None, "--jetpack must be 5 or 6, got '7'"),
        (["--bogus"], None, "unknown option '--bogus'"),
        (["--cuda", "twelve"], None, "--cuda must look like 12.6"),
        ([], "# R32 (release), REVISION: 7.1, GCID: 1, BOARD: t210ref, EABI: aarch64, DATE: x\n", "is JetPack 4"),
        (["--jetpack", "5"], JP6_RELEASE, "--jetpack 5 given but this board runs L4T 36.4.3 (JetPack 6)"),
    ],
)
def test_install_errors_are_one_clear_sentence(tmp_path: Path, args: list[str], release: str | None, message: str) -> None:
    proc = _install(tmp_path, "--dry-run", *args, release=release)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("E install.sh: ")
    assert message in proc.stderr


def test_install_help() -> None:
    proc = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for flag in ("--dry-run", "--force", "--jetpack", "--venv", "--service", "--no-apt", "--skip-checks"):
        assert flag in proc.stdout


def _bash_array(text: str, name: str) -> list[str]:
    body = re.search(rf"^readonly {name}=\((.*?)^\)", text, re.S | re.M)
    assert body, f"array {name} not found"
    words = [w for line in body.group(1).splitlines() for w in line.split("#")[0].split()]
    return [w.strip('"') for w in words]


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_install_runtime_deps_match_pyproject_without_opencv() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r): r for r in project["dependencies"]}
    listed = {_name(r): r for r in _bash_array(INSTALL.read_text(), "RUNTIME_DEPS")}
    assert set(listed) == set(declared) - {"opencv-python"}
    for name, requirement in listed.items():
        lower_bound = declared[name].split(";")[0][len(name):].split(",")[0].strip()
        assert lower_bound in requirement, f"{requirement} drops pyproject's {declared[name]}"
    assert "numpy>=1.23,<2" in listed.values() or listed["numpy"].endswith(",<2")


# --------------------------------------------------------------------------------------------- Dockerfile


def _dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_builds_on_nvidia_l4t_images_only() -> None:
    lines = _dockerfile_lines()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", "\n".join(lines), re.M))
    stages: set[str] = set()
    froms = [line.split()[1:] for line in lines if line.startswith("FROM ")]
    assert len(froms) == 3
    for spec in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), spec[0])
        if image.startswith("base-jp"):
            assert image in {f"base-jp{v}" for v in ("5", "6")} | {"base-jp" + args["JETPACK"]}
            assert f"base-jp{args['JETPACK']}" in stages
        else:
            assert image.startswith("nvcr.io/nvidia/l4t-"), image
            assert re.fullmatch(r"nvcr\.io/nvidia/l4t-(jetpack|tensorrt):r3[56]\.\d+\.\d+", image), image
            stages.add(spec[2])
    assert stages == {"base-jp5", "base-jp6"}
    assert args["L4T_JP5"].endswith(":r35.4.1") and args["L4T_JP6"].startswith("nvcr.io/nvidia/l4t-jetpack:r36.")


def test_dockerfile_is_runtime_only_and_matches_install_sh() -> None:
    lines = _dockerfile_lines()
    joined = "\n".join(lines)
    assert not re.search(r"pip3? install[^\n]*\b(torch|ultralytics|opencv-python)\b", joined)
    assert "jetson/install.sh --force" in joined and "--no-apt" in joined and "--skip-checks" in joined
    assert "! /opt/skyseg/venv/bin/pip show torch opencv-python" in joined  # the build fails if either sneaks in
    # Same apt packages as install.sh, minus what the host lends the container (L4T GStreamer plugins via
    # --runtime nvidia) and JetPack's OpenCV (the base image's, or Ubuntu's GStreamer-enabled python3-opencv).
    apt_line = next(line for line in lines if "apt-get install" in line)
    docker_apt = set(apt_line.split("--no-install-recommends", 1)[1].split("&&")[0].split())
    install_text = INSTALL.read_text()
    block = re.search(r"APT_PACKAGES=\((.*?)\n\s*\)", install_text, re.S).group(1)
    install_apt = {w for line in block.splitlines() for w in line.split("#")[0].split()}
    assert docker_apt == install_apt - {"nvidia-l4t-gstreamer", "nvidia-opencv"}
    assert 'python3 -c "import cv2" 2>/dev/null || apt-get install -y --no-install-recommends python3-opencv' in joined
    # Every package folder pip needs is copied in.
    package_dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values()
    copied = {line.split()[1] for line in lines if line.startswith("COPY ")}
    assert set(package_dirs) | {"jetson", "pyproject.toml"} <= copied
    assert lines[-2:] == ['ENTRYPOINT ["/opt/skyseg/venv/bin/skyseg"]', 'CMD ["--help"]']


def test_dockerfile_documents_the_camera_run_line() -> None:
    header = DOCKERFILE.read_text().split("ARG JETPACK")[0]
    run = header[header.index("docker run"):].split("\n#\n")[0]
    assert "--runtime nvidia" in run
    assert "-v /tmp/argus_socket:/tmp/argus_socket" in run
    assert "run csi://0 --model" in run
