#!/usr/bin/env bash
# Start `skyseg run` for the skyseg-camera service (installed as /opt/skyseg/bin/skyseg-camera).
#
# Reads its settings from the environment (systemd's EnvironmentFile=/etc/skyseg/skyseg-camera.env), waits
# for the Argus camera daemon's socket when the source is a CSI camera, then *execs* skyseg so that systemd's
# SIGTERM reaches the runtime directly (it closes its video, tables and masks cleanly). Log lines go both to
# stderr (the journal) and, appended, to SKYSEG_LOG_FILE in the service's LogsDirectory.
set -euo pipefail

SKYSEG_BIN="${SKYSEG_BIN:-/opt/skyseg/venv/bin/skyseg}"
SKYSEG_SOURCE="${SKYSEG_SOURCE:-csi://0}"
SKYSEG_BACKEND="${SKYSEG_BACKEND:-auto}"
SKYSEG_SAVE_DIR="${SKYSEG_SAVE_DIR:-/var/lib/skyseg/out}"
SKYSEG_ARGS="${SKYSEG_ARGS:-}"
SKYSEG_LOG_FILE="${SKYSEG_LOG_FILE:-}"
SKYSEG_ARGUS_SOCKET="${SKYSEG_ARGUS_SOCKET:-/tmp/argus_socket}"
SKYSEG_ARGUS_TIMEOUT="${SKYSEG_ARGUS_TIMEOUT:-30}"

die() {
    printf '%s\n' "E skyseg-camera: $*" >&2
    exit "${2:-2}"
}

[[ -n "${SKYSEG_MODEL:-}" ]] || die "SKYSEG_MODEL is not set; set it in /etc/skyseg/skyseg-camera.env to an .engine or .onnx file."
[[ -r "${SKYSEG_MODEL}" ]] || die "model ${SKYSEG_MODEL} is missing or unreadable for user $(id -un); copy it there (e.g. /var/lib/skyseg/models/) or fix SKYSEG_MODEL."
[[ -x "${SKYSEG_BIN}" ]] || die "${SKYSEG_BIN} is not an executable; run jetson/install.sh, or set SKYSEG_BIN to the venv's bin/skyseg."
[[ "${SKYSEG_ARGUS_TIMEOUT}" =~ ^[0-9]+$ ]] || die "SKYSEG_ARGUS_TIMEOUT must be whole seconds, got '${SKYSEG_ARGUS_TIMEOUT}'."

# nvargus-daemon creates its socket some time after systemd reports it started; a CSI source opened
# before that fails. Other sources (v4l2, rtsp, folders) do not need Argus.
if [[ "${SKYSEG_SOURCE}" == csi://* ]]; then
    waited=0
    until [[ -S "${SKYSEG_ARGUS_SOCKET}" ]]; do
        if ((waited >= SKYSEG_ARGUS_TIMEOUT)); then
            die "no Argus socket at ${SKYSEG_ARGUS_SOCKET} after ${SKYSEG_ARGUS_TIMEOUT} s; is nvargus-daemon running? Try: sudo systemctl restart nvargus-daemon" 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
fi

# SKYSEG_ARGS is split on whitespace, like systemd's $VAR expansion (no quoting inside it).
read -r -a extra_args <<<"${SKYSEG_ARGS}"
cmd=("${SKYSEG_BIN}" run "${SKYSEG_SOURCE}" --model "${SKYSEG_MODEL}" --backend "${SKYSEG_BACKEND}"
    --save-dir "${SKYSEG_SAVE_DIR}" --headless "${extra_args[@]}")
printf 'I skyseg-camera: exec %s\n' "${cmd[*]}" >&2

if [[ -n "${SKYSEG_LOG_FILE}" ]]; then
    mkdir -p "$(dirname "${SKYSEG_LOG_FILE}")"
    # tee ends at end-of-file, i.e. after skyseg has exited and written its last line.
    exec "${cmd[@]}" 2> >(exec tee -a "${SKYSEG_LOG_FILE}" >&2)
fi
exec "${cmd[@]}"
