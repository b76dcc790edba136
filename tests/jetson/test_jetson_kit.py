"""The Jetson kit (jetson/): scripts lint clean, the unit verifies, the installer plans the right steps and the
service's start script passes arguments, waits for Argus, tees logs and hands SIGTERM to skyseg.

Nothing here needs a Jetson: JetPack is faked with an L4T release file and a CUDA version.json, and `skyseg`
is replaced by a small stand-in script that records what it was given.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
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


# --------------------------------------------------------------------------------------------- lint


def test_kit_has_the_expected_files() -> None:
    for path in (INSTALL, START, UNIT, ENV_FILE, DOCKERFILE, KIT / "README.md"):
        assert path.is_file(), f"missing {path}"
    assert [p.name for p in SHELL_SCRIPTS] == ["install.sh", "skyseg-camera.sh"]
    for script in SHELL_SCRIPTS:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        head = script.read_text().splitlines()[:20]
        assert head[0] == "#!/usr/bin/env bash"
        assert "set -euo pipefail" in head


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    proc = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_bash_syntax(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------------------------- systemd unit


def _unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(key, value)], keeping repeats (systemd allows them; configparser does not)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def _one(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    values = [v for k, v in sections[section] if k == key]
    assert len(values) == 1, f"[{section}] {key}: expected one value, found {values}"
    return values[0]


def _verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (it comes with systemd)")
    unit = tmp_path / "skyseg-camera.service"
    unit.write_text(unit_text)
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


def _with_stand_in_exec(tmp_path: Path) -> str:
    """The unit with ExecStart pointed at a copy of the real start script, which exists on this machine."""
    stand_in = tmp_path / "skyseg-camera"
    shutil.copy2(START, stand_in)
    text = UNIT.read_text()
    assert text.count("ExecStart=/opt/skyseg/bin/skyseg-camera\n") == 1
    return text.replace("ExecStart=/opt/skyseg/bin/skyseg-camera\n", f"ExecStart={stand_in}\n")


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    proc = _verify(_with_stand_in_exec(tmp_path), tmp_path)
    # verify only warns (exit 0) about unknown or unparsable settings, so any output at all is a failure.
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr


def test_systemd_analyze_verify_catches_a_bad_setting(tmp_path: Path) -> None:
    """The check above can fail: a broken setting produces output."""
    broken = _with_stand_in_exec(tmp_path).replace("Type=exec", "Type=forkish")
    proc = _verify(broken, tmp_path)
    assert "Failed to parse service type" in proc.stderr


def test_unit_settings() -> None:
    unit = _unit_entries(UNIT.read_text())
    assert _one(unit, "Service", "ExecStart") == "/opt/skyseg/bin/skyseg-camera"
    assert _one(unit, "Service", "EnvironmentFile") == "/etc/skyseg/skyseg-camera.env"
    assert _one(unit, "Service", "User") == "skyseg"
    assert "video" in _one(unit, "Service", "SupplementaryGroups").split()
    assert _one(unit, "Service", "Restart") == "on-failure"
    assert int(_one(unit, "Service", "RestartSec")) >= 5
    assert int(_one(unit, "Unit", "StartLimitBurst")) >= 3
    assert int(_one(unit, "Unit", "StartLimitIntervalSec")) >= 60
    assert _one(unit, "Service", "KillSignal") == "SIGTERM"
    assert _one(unit, "Service", "KillMode") == "mixed"
    assert 10 <= int(_one(unit, "Service", "TimeoutStopSec")) <= 120
    assert _one(unit, "Service", "StateDirectory") == "skyseg"
    assert _one(unit, "Service", "LogsDirectory") == "skyseg"
    assert _one(unit, "Service", "StandardError") == "journal"
    assert "nvargus-daemon.service" in _one(unit, "Unit", "After").split()
    assert "nvargus-daemon.service" in _one(unit, "Unit", "Wants").split()
    assert _one(unit, "Install", "WantedBy") == "multi-user.target"
    keys = {k for _, entries in unit.items() for k, _ in entries}
    # These would break the camera (Argus socket in /tmp) or the GPU (/dev/nvhost-*, /dev/nvmap).
    assert not keys & {"PrivateTmp", "PrivateDevices", "DevicePolicy", "MemoryDenyWriteExecute"}
    assert _one(unit, "Service", "NoNewPrivileges") == "yes"


# The systemd release that introduced each setting the unit uses (systemd NEWS). JetPack 5 is Ubuntu 20.04 with
# systemd 245, JetPack 6 is Ubuntu 22.04 with 249: a newer setting (e.g. RestartSteps=, 254) would be ignored
# there with a warning, so the unit must stay within 245.
SYSTEMD_SINCE = {
    "Description": 1, "Documentation": 1, "Wants": 1, "After": 1, "StartLimitIntervalSec": 230,
    "StartLimitBurst": 1, "Type": 240, "User": 1, "Group": 1, "SupplementaryGroups": 1, "EnvironmentFile": 1,
    "ExecStart": 1, "Restart": 1, "RestartSec": 1, "KillMode": 1, "KillSignal": 1, "TimeoutStopSec": 1,
    "StandardOutput": 1, "StandardError": 1, "SyslogIdentifier": 1, "StateDirectory": 235,
    "StateDirectoryMode": 235, "LogsDirectory": 235, "LogsDirectoryMode": 235, "WorkingDirectory": 1, "Nice": 1,
    "NoNewPrivileges": 187, "ProtectSystem": 232, "ProtectHome": 214, "ProtectKernelModules": 232,
    "ProtectKernelLogs": 244, "ProtectControlGroups": 232, "ProtectHostname": 242, "RestrictSUIDSGID": 242,
    "RestrictRealtime": 231, "RestrictNamespaces": 233, "LockPersonality": 235, "SystemCallArchitectures": 209,
    "RestrictAddressFamilies": 211, "CapabilityBoundingSet": 1, "UMask": 1, "WantedBy": 1,
}


def test_unit_settings_exist_in_jetpack5_systemd() -> None:
    unit = _unit_entries(UNIT.read_text())
    keys = {k for entries in unit.values() for k, _ in entries}
    assert keys <= set(SYSTEMD_SINCE), f"unknown to this test, check its systemd version: {keys - set(SYSTEMD_SINCE)}"
    assert max(SYSTEMD_SINCE[k] for k in keys) <= 245
    assert _one(unit, "Service", "Type") == "exec"  # exec: a missing binary fails the start, not silently later


def _env_values() -> dict[str, str]:
    values = {}
    for raw in ENV_FILE.read_text().splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", raw), f"not a systemd KEY=value line: {raw!r}"
        key, _, value = raw.partition("=")
        values[key] = value
    return values


def test_env_file_covers_every_setting_the_start_script_reads() -> None:
    env = _env_values()
    read = set(re.findall(r"\$\{(SKYSEG_[A-Z_]+)", START.read_text()))
    assert read - {"SKYSEG_ARGUS_SOCKET"} <= set(env), read - set(env)
    assert env["SKYSEG_SOURCE"] == "csi://0"
    assert env["SKYSEG_BIN"] == "/opt/skyseg/venv/bin/skyseg"
    assert env["SKYSEG_SAVE_DIR"].startswith("/var/lib/skyseg/")  # the unit's StateDirectory
    assert env["SKYSEG_LOG_FILE"].startswith("/var/log/skyseg/")  # the unit's LogsDirectory


# --------------------------------------------------------------------------------------------- start script

FAKE_SKYSEG = """#!/usr/bin/env bash
# Stand-in for skyseg: records its argv and pid, logs to stderr, and exits cleanly on SIGTERM.
printf '%s\\n' "$@" > "$(dirname "$0")/argv.txt"
echo "$$" > "$(dirname "$0")/pid.txt"
trap 'echo "I skyseg: SIGTERM, outputs closed" >&2; exit 0' TERM
echo "I skyseg: ready" >&2
if [[ -n "${FAKE_FOREVER:-}" ]]; then
    while :; do sleep 0.05; done
fi
"""


@pytest.fixture()
def camera_env(tmp_path: Path) -> dict[str, str]:
    """The env file's settings with the machine paths redirected into tmp_path and a stand-in skyseg."""
    fake = tmp_path / "bin" / "skyseg"
    fake.parent.mkdir()
    fake.write_text(FAKE_SKYSEG)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    model = tmp_path / "skyseg.engine"
    model.write_bytes(b"plan")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYSEG_")}
    env.update(_env_values())
    env.update(
        SKYSEG_BIN=str(fake),
        SKYSEG_MODEL=str(model),
        SKYSEG_LOG_FILE=str(tmp_path / "log" / "skyseg-camera.log"),
        SKYSEG_ARGUS_SOCKET=str(tmp_path / "argus_socket"),
        SKYSEG_ARGUS_TIMEOUT="1",
    )
    return env


def _argus_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    return sock


def test_start_script_runs_skyseg_run_csi_with_the_env_file_settings(camera_env: dict[str, str], tmp_path: Path) -> None:
    with _argus_socket(camera_env["SKYSEG_ARGUS_SOCKET"]):
        proc = subprocess.run([str(START)], env=camera_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    argv = (tmp_path / "bin" / "argv.txt").read_text().splitlines()
    assert argv == [
        "run", "csi://0",
        "--model", camera_env["SKYSEG_MODEL"],
        "--backend", "auto",
        "--save-dir", "/var/lib/skyseg/out",
        "--headless",
        "--masks", "--table", "/var/lib/skyseg/out/results.csv",
    ]
    assert f"exec {camera_env['SKYSEG_BIN']} run csi://0 --model" in proc.stderr
    # Log lines reach both stderr (the journal) and the log file.
    assert "I skyseg: ready" in proc.stderr
    assert "I skyseg: ready" in Path(camera_env["SKYSEG_LOG_FILE"]).read_text()


def test_start_script_waits_for_the_argus_socket_then_gives_up(camera_env: dict[str, str], tmp_path: Path) -> None:
    start = time.monotonic()
    proc = subprocess.run([str(START)], env=camera_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert time.monotonic() - start >= 1.0
    assert f"no Argus socket at {camera_env['SKYSEG_ARGUS_SOCKET']} after 1 s" in proc.stderr
    assert not (tmp_path / "bin" / "argv.txt").exists(), "skyseg must not start without the Argus socket"


def test_start_script_does_not_wait_for_argus_for_other_sources(camera_env: dict[str, str], tmp_path: Path) -> None:
    camera_env.update(SKYSEG_SOURCE="v4l2:///dev/video0", SKYSEG_ARGS="", SKYSEG_LOG_FILE="")
    proc = subprocess.run([str(START)], env=camera_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    argv = (tmp_path / "bin" / "argv.txt").read_text().splitlines()
    assert argv[:2] == ["run", "v4l2:///dev/video0"] and argv[-1] == "--headless"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SKYSEG_MODEL": ""}, "SKYSEG_MODEL is not set"),
        ({"SKYSEG_MODEL": "/nonexistent/m.engine"}, "model /nonexistent/m.engine is missing or unreadable"),
        ({"SKYSEG_BIN": "/nonexistent/skyseg"}, "/nonexistent/skyseg is not an executable"),
        ({"SKYSEG_ARGUS_TIMEOUT": "soon"}, "SKYSEG_ARGUS_TIMEOUT must be whole seconds"),
    ],
)
def test_start_script_rejects_bad_settings(camera_env: dict[str, str], change: dict[str, str], message: str) -> None:
    camera_env.update(change)
    proc = subprocess.run([str(START)], env=camera_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.startswith("E skyseg-camera: ") and message in proc.stderr


def test_sigterm_reaches_skyseg_itself(camera_env: dict[str, str], tmp_path: Path) -> None:
    """systemd signals the main PID: the script must exec skyseg, not wrap it, so skyseg can close cleanly."""
    camera_env["FAKE_FOREVER"] = "1"
    log_file = Path(camera_env["SKYSEG_LOG_FILE"])
    with _argus_socket(camera_env["SKYSEG_ARGUS_SOCKET"]):
        proc = subprocess.Popen([str(START)], env=camera_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not (log_file.exists() and "ready" in log_file.read_text()):
                assert time.monotonic() < deadline, "stand-in skyseg never started"
                time.sleep(0.05)
            assert int((tmp_path / "bin" / "pid.txt").read_text()) == proc.pid
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert "SIGTERM, outputs closed" in err
    deadline = time.monotonic() + 5  # tee writes the last line after skyseg has exited
    while "SIGTERM, outputs closed" not in log_file.read_text():
        assert time.monotonic() < deadline, log_file.read_text()
        time.sleep(0.05)


def test_readme_covers_the_required_topics() -> None:
    text = (KIT / "README.md").read_text()
    for needle in ("nvpmodel -q", "nvpmodel -m", "jetson_clocks", "tegrastats", "Orin Nano has no DLA",
                   "TensorRT 11.0–11.3 have no DLA", "skyseg inspect", "journalctl -u skyseg-camera",
                   "/var/log/skyseg", "255", "indi-allsky", "AllskyTeam/allsky", "--dry-run", "opencv-python"):
        assert needle in text, needle
    for name in ("install.sh", "skyseg-camera.service", "skyseg-camera.env", "skyseg-camera.sh", "Dockerfile"):
        assert f"`{name}`" in text


def test_package_needs_nothing_newer_than_python_3_8():
    """JetPack 5's TensorRT bindings exist only for its system Python 3.8, so skyseg's code must stay 3.8-clean:
    vermin (a static minimum-version analyser) checks every package folder against requires-python."""
    import re
    import subprocess

    pytest.importorskip("vermin", reason="vermin is in the dev extras: pip install -e '.[dev]'")
    root = Path(__file__).resolve().parents[2]
    need = re.search(r'^requires-python = ">=(\d+\.\d+)"', (root / "pyproject.toml").read_text(), re.M).group(1)
    assert need == "3.8"
    # every package folder pyproject installs (skyseg.X = "folder"), so a new room is checked as soon as it exists
    folders = [str(root / d) for d in re.findall(r'^"skyseg\.\w+" = "(\w+)"', (root / "pyproject.toml").read_text(), re.M)]
    assert {"runtime", "cli", "synth", "label"} <= {Path(f).name for f in folders}
    script = Path(sys.executable).with_name("vermin")  # the package has no __main__; its console script
    proc = subprocess.run([str(script), "--no-tips", "--violations", f"-t={need}-", *folders],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Minimum required versions: {need}" in proc.stdout
