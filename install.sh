#!/usr/bin/env bash
# One set-up path for a fresh Debian 12 machine: system packages (apt-get), a virtual environment in .venv,
# and skyseg with its train/export/GStreamer/test extras. Idempotent; re-run it after pulling.
#   SKYSEG_SKIP_APT=1  skip apt-get (no root, or packages already present)
#   SKYSEG_RUNTIME_ONLY=1  install the PyTorch-free runtime only (ONNX Runtime, GStreamer bindings)
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  libgirepository1.0-dev libcairo2-dev pkg-config
  shellcheck systemd
  mosquitto gir1.2-gst-rtsp-server-1.0
  chromium
)

log() { printf 'install.sh: %s\n' "$*" >&2; }

if [[ "${SKYSEG_SKIP_APT:-0}" != 1 ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
      log "apt-get install ${missing[*]}"
      apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
  else
    log "not root or no apt-get: skipping system packages (${APT_PACKAGES[*]})"
  fi
fi

PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip

if [[ "${SKYSEG_RUNTIME_ONLY:-0}" == 1 ]]; then
  "${PIP[@]}" install -q -e '.[gst,dev]'
else
  # torch/torchvision first, pinned to the pair that imports together (FACTS.md); Ultralytics is pinned in pyproject.
  "${PIP[@]}" install -q torch==2.14.1 torchvision==0.29.1
  "${PIP[@]}" install -q -e '.[train,gst,openvino,scale,serve,dev]'
fi
log "done: activate with 'source .venv/bin/activate' or call .venv/bin/skyseg"
