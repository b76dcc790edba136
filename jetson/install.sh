#!/usr/bin/env bash
# Set up skyseg's PyTorch-free runtime on an NVIDIA Jetson (JetPack 5 or 6).
#
# What it does, in order (each step is idempotent; --dry-run prints them without running):
#   1. detects JetPack 5 (L4T R35) or 6 (L4T R36) from /etc/nv_tegra_release or the nvidia-l4t-core package;
#   2. apt-installs JetPack's TensorRT Python bindings, GStreamer with nvarguscamerasrc, GObject bindings and
#      JetPack's GStreamer-enabled OpenCV;
#   3. creates a venv with --system-site-packages so those system packages stay visible;
#   4. pip-installs skyseg's runtime WITHOUT PyTorch and WITHOUT pip's opencv-python (which has no GStreamer
#      and would shadow JetPack's cv2), plus cuda-python matching the board's CUDA version;
#   5. optionally (--service) installs the skyseg-camera systemd service;
#   6. checks the result: TensorRT >= 8.5, the CUDA runtime bindings as the TensorRT backend uses them, onnx,
#      cv2 (with GStreamer), gst-inspect-1.0 nvarguscamerasrc, and that `skyseg build`, `run` and `serve` import.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "${SCRIPT_DIR}/.." && pwd)"
readonly SCRIPT_DIR REPO_DIR
# Overridable for tests and unusual images; the defaults are where L4T keeps them.
readonly TEGRA_RELEASE="${SKYSEG_TEGRA_RELEASE:-/etc/nv_tegra_release}"
readonly CUDA_VERSION_JSON="${SKYSEG_CUDA_VERSION_JSON:-/usr/local/cuda/version.json}"

DRY_RUN=0
FORCE=0
WITH_SERVICE=0
WITH_APT=1
WITH_CHECKS=1
JETPACK=""
CUDA_VERSION=""
CUDA_PYTHON_SPEC=""
VENV_DIR="/opt/skyseg/venv"
PYTHON="${SKYSEG_PYTHON:-python3}"

# The runtime's dependencies from pyproject.toml, minus opencv-python (JetPack's cv2 is used instead) and
# with numpy held below 2: JetPack's cv2 and TensorRT bindings are compiled against NumPy 1.x, and modules
# built for NumPy 1.x fail to import under NumPy 2. tests/jetson checks this list against pyproject.toml.
readonly RUNTIME_DEPS=(
    "numpy>=1.23,<2"
    "onnxruntime>=1.16"
    "astropy>=5.2"
    "openpyxl>=3.1"
    "pyyaml>=6.0"
)
# What `skyseg build` (onnx, for the lint and metadata) and `skyseg serve` (the ASGI stack) import beyond the runtime;
# lower bounds from pyproject.toml's train/serve extras. tests/jetson checks every import of build/run/serve against
# these lists and the apt packages.
readonly COMMAND_DEPS=(
    "onnx>=1.15"
    "starlette>=0.40"
    "uvicorn>=0.30"
    "python-multipart>=0.0.18"
)
# skyseg runs engines through TensorRT's name-based execution API (8.5+): JetPack 5.1 = L4T R35.2 and newer.
readonly MIN_L4T_R35_REVISION=2
readonly MIN_TENSORRT=8.5
# Wheels that install a `cv2` module. Any of them in the venv shadows JetPack's GStreamer-enabled cv2.
readonly BLOCKED_CV2_WHEELS=(
    opencv-python
    opencv-python-headless
    opencv-contrib-python
    opencv-contrib-python-headless
)

usage() {
    cat <<'EOF'
usage: jetson/install.sh [options]

Install skyseg's runtime (no PyTorch) on an NVIDIA Jetson running JetPack 5 or 6.

options:
  --dry-run          print every action instead of running it (no root needed)
  --force            continue on a machine that does not look like a Jetson
  --jetpack 5|6      JetPack major version (default: detected; required with --force off a Jetson)
  --venv DIR         virtual environment to create/reuse (default: /opt/skyseg/venv)
  --cuda VERSION     CUDA major.minor for cuda-python (default: detected, e.g. 12.6)
  --cuda-python SPEC pip requirement for the CUDA bindings (default: cuda-python==MAJOR.MINOR.*)
  --no-apt           skip the apt step (packages already installed, or no network to the L4T repo)
  --skip-checks      skip the final checks (container builds: no GPU or camera while building)
  --service          also install and enable the skyseg-camera systemd service
  -h, --help         show this help

Environment: SKYSEG_PYTHON (interpreter for the venv, default python3).
EOF
}

log() { printf '%s\n' "== $*"; }
warn() { printf '%s\n' "WARNING: $*" >&2; }
die() {
    printf '%s\n' "E install.sh: $*" >&2
    exit 1
}

# Run a command, or only print it under --dry-run.
run() {
    if ((DRY_RUN)); then
        printf '[dry-run] %s\n' "$*"
    else
        printf '+ %s\n' "$*"
        "$@"
    fi
}

# Root commands go through sudo unless we are root already.
as_root() {
    if ((EUID == 0)); then
        run "$@"
    else
        run sudo "$@"
    fi
}

# Copy a file into place atomically (temp file in the target folder, then rename).
install_file() {
    local src="$1" dest="$2" mode="$3"
    local tmp
    tmp="$(dirname "${dest}")/.$(basename "${dest}").tmp.$$"
    as_root install -D -m "${mode}" "${src}" "${tmp}"
    as_root mv -f "${tmp}" "${dest}"
}

parse_args() {
    while (($#)); do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            --force) FORCE=1 ;;
            --service) WITH_SERVICE=1 ;;
            --no-apt) WITH_APT=0 ;;
            --skip-checks) WITH_CHECKS=0 ;;
            --jetpack)
                JETPACK="${2:-}"
                shift
                ;;
            --venv)
                VENV_DIR="${2:-}"
                shift
                ;;
            --cuda)
                CUDA_VERSION="${2:-}"
                shift
                ;;
            --cuda-python)
                CUDA_PYTHON_SPEC="${2:-}"
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                die "unknown option '$1'; see the usage above."
                ;;
        esac
        shift
    done
    [[ -z "${JETPACK}" || "${JETPACK}" == 5 || "${JETPACK}" == 6 ]] ||
        die "--jetpack must be 5 or 6, got '${JETPACK}'."
    [[ -n "${VENV_DIR}" ]] || die "--venv needs a directory."
    [[ -z "${CUDA_VERSION}" || "${CUDA_VERSION}" =~ ^[0-9]+\.[0-9]+$ ]] ||
        die "--cuda must look like 12.6, got '${CUDA_VERSION}'."
}

# Print the L4T release as "MAJOR.MINOR.PATCH" (e.g. 36.4.3), or nothing when this is not a Jetson.
l4t_release() {
    local line
    if [[ -r "${TEGRA_RELEASE}" ]]; then
        # e.g. "# R36 (release), REVISION: 4.3, GCID: ..., BOARD: generic, EABI: aarch64, DATE: ..."
        line="$(head -n 1 "${TEGRA_RELEASE}")"
        if [[ "${line}" =~ R([0-9]+)[^,]*,[[:space:]]*REVISION:[[:space:]]*([0-9]+)\.([0-9]+) ]]; then
            printf '%s.%s.%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
            return 0
        fi
        warn "could not parse ${TEGRA_RELEASE} (first line: '${line}'); trying dpkg."
    fi
    if command -v dpkg-query >/dev/null 2>&1; then
        # e.g. "36.4.3-20250107174145"
        line="$(dpkg-query -W -f='${Version}' nvidia-l4t-core 2>/dev/null || true)"
        if [[ "${line}" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+) ]]; then
            printf '%s.%s.%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
            return 0
        fi
    fi
    return 0
}

detect_jetpack() {
    local l4t major
    l4t="$(l4t_release)"
    if [[ -z "${l4t}" ]]; then
        if ((!FORCE)); then
            die "not a Jetson: found neither ${TEGRA_RELEASE} nor the nvidia-l4t-core package. This script sets up JetPack 5/6 boards; run it on the Jetson, or pass --force --jetpack 5|6 to plan/install anyway."
        fi
        [[ -n "${JETPACK}" ]] || JETPACK=6
        warn "not a Jetson (no ${TEGRA_RELEASE}, no nvidia-l4t-core); continuing because of --force, assuming JetPack ${JETPACK}."
        L4T_VERSION="unknown"
        return 0
    fi
    L4T_VERSION="${l4t}"
    major="${l4t%%.*}"
    local revision="${l4t#*.}"
    revision="${revision%%.*}"
    if [[ "${major}" == 35 ]] && ((revision < MIN_L4T_R35_REVISION)); then
        ((FORCE)) || die "L4T ${l4t} is JetPack 5.0.x, whose TensorRT 8.4 lacks the name-based execution API skyseg needs (TensorRT ${MIN_TENSORRT}+); upgrade the board to JetPack 5.1 or newer (L4T 35.2.1+), or pass --force to install anyway."
        warn "L4T ${l4t} ships TensorRT 8.4; skyseg build and --backend trt need ${MIN_TENSORRT}+ (continuing because of --force)."
    fi
    local detected
    case "${major}" in
        35) detected=5 ;;
        36) detected=6 ;;
        32) die "L4T ${l4t} is JetPack 4 (Python 3.6, TensorRT 8.2 at most); skyseg needs JetPack 5 or 6. Reflash the board with JetPack 5 or 6." ;;
        *)
            ((FORCE)) || die "L4T ${l4t} is not JetPack 5 (R35) or 6 (R36); pass --force --jetpack 5|6 to try anyway."
            detected="${JETPACK:-6}"
            ;;
    esac
    if [[ -n "${JETPACK}" && "${JETPACK}" != "${detected}" ]]; then
        ((FORCE)) || die "--jetpack ${JETPACK} given but this board runs L4T ${l4t} (JetPack ${detected}); drop --jetpack or add --force."
        warn "--jetpack ${JETPACK} overrides the detected JetPack ${detected} (--force)."
    else
        JETPACK="${detected}"
    fi
    if [[ "$(uname -m)" != aarch64 ]]; then
        ((FORCE)) || die "L4T ${l4t} found but this machine is $(uname -m), not aarch64; is this a cross-build root? Use --force to continue."
    fi
}

# CUDA major.minor: from the toolkit's version.json, then nvcc, then JetPack's documented default.
detect_cuda() {
    [[ -z "${CUDA_VERSION}" ]] || return 0
    local found=""
    if [[ -r "${CUDA_VERSION_JSON}" ]]; then
        # {"cuda": {"name": "CUDA SDK", "version": "12.6.68"}, ...}, pretty-printed over several lines.
        found="$("${PYTHON}" -c 'import json,sys; v=json.load(open(sys.argv[1]))["cuda"]["version"]; print(".".join(v.split(".")[:2]))' "${CUDA_VERSION_JSON}" 2>/dev/null || true)"
    fi
    if [[ -z "${found}" ]] && command -v nvcc >/dev/null 2>&1; then
        found="$(nvcc --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)"
    fi
    if [[ -z "${found}" ]]; then
        # JetPack 5.x: CUDA 11.4; JetPack 6.0 (L4T 36.2/36.3): 12.2; JetPack 6.1/6.2 (L4T 36.4): 12.6.
        if [[ "${JETPACK}" == 5 ]]; then
            found=11.4
        elif [[ "${L4T_VERSION}" =~ ^36\.[23]\. ]]; then
            found=12.2
        else
            found=12.6
        fi
        warn "no CUDA toolkit found (${CUDA_VERSION_JSON}, nvcc); assuming JetPack ${JETPACK}'s CUDA ${found}. Pass --cuda to override."
    fi
    CUDA_VERSION="${found}"
}

# cuda-python follows CUDA's versioning; pin it to the board's major.minor. The registry lists no 11.x release
# older than 11.8 (`pip index versions cuda-python`), so JetPack 5 (CUDA 11.4) gets 11.8.*, which relies on
# CUDA 11 minor-version compatibility; the final check (cuda_check.py) runs the very runtime calls the TensorRT
# backend makes (buffers, stream, copies, a CUDA graph) to prove the bindings reach the driver.
cuda_python_spec() {
    [[ -z "${CUDA_PYTHON_SPEC}" ]] || return 0
    local major="${CUDA_VERSION%%.*}"
    if [[ "${major}" == 11 ]]; then
        CUDA_PYTHON_SPEC="cuda-python==11.8.*"
    else
        CUDA_PYTHON_SPEC="cuda-python==${CUDA_VERSION}.*"
    fi
}

apt_packages() {
    APT_PACKAGES=(
        python3-venv python3-pip python3-dev
        # TensorRT's Python bindings from JetPack (not PyPI: those wheels are for desktop GPUs).
        python3-libnvinfer
        # GStreamer, the Argus camera source (nvarguscamerasrc) and NVIDIA's converters/encoders.
        nvidia-l4t-gstreamer
        gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
        # x264enc (Orin Nano has no hardware video encoder) and libav's software decoders.
        gstreamer1.0-plugins-ugly gstreamer1.0-libav
        # GObject introspection, so `import gi; gi.require_version("Gst", "1.0")` works from the venv.
        python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
        # JetPack's OpenCV (built with GStreamer) and its Python module.
        nvidia-opencv
    )
}

check_python() {
    local have need
    have="$("${PYTHON}" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
    need="$(sed -n 's/^requires-python *= *">=\([0-9.]*\)".*/\1/p' "${REPO_DIR}/pyproject.toml" | head -n 1)"
    if [[ -z "${have}" ]]; then
        ((DRY_RUN)) && { warn "${PYTHON} not found; the plan assumes JetPack's system Python."; return 0; }
        die "${PYTHON} not found; install python3 (JetPack ships it) or set SKYSEG_PYTHON."
    fi
    if [[ -n "${need}" ]] && ! "${PYTHON}" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '${need}'.split('.'))))"; then
        local msg="${PYTHON} is ${have} but skyseg requires Python >= ${need}; JetPack's TensorRT bindings exist only for the system Python (3.8 on JetPack 5, 3.10 on JetPack 6), so a newer interpreter would lose TensorRT."
        ((DRY_RUN)) && { warn "${msg}"; return 0; }
        die "${msg}"
    fi
}

write_constraints() {
    CONSTRAINTS="${VENV_DIR}/skyseg-constraints.txt"
    local body="# Written by skyseg's jetson/install.sh. Keeps pip from replacing JetPack's GStreamer-enabled cv2 and
# from upgrading NumPy past the major version JetPack's compiled modules were built for.
numpy<2"
    local wheel
    for wheel in "${BLOCKED_CV2_WHEELS[@]}"; do
        # An unsatisfiable pin: anything that pulls this wheel makes pip stop with ResolutionImpossible.
        body+=$'\n'"${wheel}===0+blocked-by-skyseg"
    done
    if ((DRY_RUN)); then
        printf '[dry-run] write %s:\n%s\n' "${CONSTRAINTS}" "${body}"
    else
        local tmp="${CONSTRAINTS}.tmp.$$"
        printf '%s\n' "${body}" >"${tmp}"
        mv -f "${tmp}" "${CONSTRAINTS}"
    fi
}

make_venv() {
    local cfg="${VENV_DIR}/pyvenv.cfg"
    if [[ -f "${cfg}" ]]; then
        grep -Eq '^include-system-site-packages *= *true' "${cfg}" ||
            die "${VENV_DIR} exists but was created without --system-site-packages, so JetPack's TensorRT, gi and cv2 are invisible to it; remove it or pick another --venv."
        log "reusing venv ${VENV_DIR}"
        return 0
    fi
    if [[ ! -w "$(dirname "${VENV_DIR}")" ]] && ((EUID != 0)); then
        as_root install -d -m 0755 "$(dirname "${VENV_DIR}")"
        as_root install -d -m 0755 -o "$(id -u)" -g "$(id -g)" "${VENV_DIR}"
    fi
    run "${PYTHON}" -m venv --system-site-packages "${VENV_DIR}"
}

pip_install() {
    local pip="${VENV_DIR}/bin/pip"
    warn "pip's opencv-python wheels are built WITHOUT GStreamer: installed into this venv they shadow JetPack's cv2 and csi:// cameras stop working. This script installs skyseg with --no-deps and blocks those wheels via ${CONSTRAINTS}; do not 'pip install opencv-python' or 'ultralytics' (which pulls it) into this venv."
    run "${pip}" install --upgrade pip
    run "${pip}" install -c "${CONSTRAINTS}" "${RUNTIME_DEPS[@]}" "${COMMAND_DEPS[@]}" "${CUDA_PYTHON_SPEC}"
    run "${pip}" install -c "${CONSTRAINTS}" --no-deps "${REPO_DIR}"
}

install_service() {
    local unit_src="${SCRIPT_DIR}/skyseg-camera.service"
    local env_dest="/etc/skyseg/skyseg-camera.env"
    if ! id -u skyseg >/dev/null 2>&1; then
        as_root useradd --system --home-dir /var/lib/skyseg --no-create-home --shell /usr/sbin/nologin \
            --groups video skyseg
    else
        as_root usermod --append --groups video skyseg
    fi
    install_file "${SCRIPT_DIR}/skyseg-camera.sh" /opt/skyseg/bin/skyseg-camera 0755
    if [[ -e "${env_dest}" ]]; then
        log "keeping the existing ${env_dest} (edit it by hand; the template is ${SCRIPT_DIR}/skyseg-camera.env)"
    else
        install_file "${SCRIPT_DIR}/skyseg-camera.env" "${env_dest}" 0644
        if [[ "${VENV_DIR}" != /opt/skyseg/venv ]]; then
            as_root sed -i "s|^SKYSEG_BIN=.*|SKYSEG_BIN=${VENV_DIR}/bin/skyseg|" "${env_dest}"
        fi
    fi
    install_file "${unit_src}" /etc/systemd/system/skyseg-camera.service 0644
    install_file "${SCRIPT_DIR}/README.md" /opt/skyseg/README-jetson.md 0644
    as_root systemctl daemon-reload
    as_root systemctl enable skyseg-camera.service
    log "service installed and enabled; put the model where ${env_dest} says, then: sudo systemctl start skyseg-camera"
}

final_checks() {
    local py="${VENV_DIR}/bin/python"
    local checks=(
        "${py} -c 'import tensorrt as t; v = tuple(int(x) for x in t.__version__.split(\".\")[:2]); print(\"tensorrt\", t.__version__); raise SystemExit(v < (${MIN_TENSORRT/./, }))'"
        "${py} ${SCRIPT_DIR}/cuda_check.py"
        "${py} -c 'import onnxruntime; print(\"onnxruntime\", onnxruntime.__version__)'"
        "${py} -c 'import onnx, starlette, uvicorn, python_multipart; print(\"onnx\", onnx.__version__)'"
        "${py} -c 'import skyseg.cli.deploy.build, skyseg.cli.operate.run, skyseg.cli.operate.serve, skyseg.export.trt.engine, skyseg.serve.server; print(\"skyseg build/run/serve import\")'"
        "${py} -c 'import gi; gi.require_version(\"Gst\", \"1.0\"); from gi.repository import Gst; Gst.init(None); print(Gst.version_string())'"
        "gst-inspect-1.0 nvarguscamerasrc"
        "${VENV_DIR}/bin/skyseg --help"
    )
    if ((DRY_RUN)); then
        local c
        for c in "${checks[@]}"; do printf '[dry-run] check: %s\n' "${c}"; done
        printf '[dry-run] check: cv2 comes from the system (not %s) and reports GStreamer: YES\n' "${VENV_DIR}"
        return 0
    fi
    local failed=0 c out
    for c in "${checks[@]}"; do
        if out="$(bash -c "${c}" 2>&1)"; then
            log "ok: ${c}: $(head -n 1 <<<"${out}")"
        else
            warn "check failed: ${c}: $(tail -n 1 <<<"${out}")"
            failed=1
        fi
    done
    check_cv2 || failed=1
    if ((failed)); then
        die "some checks failed (see WARNING lines above); skyseg may still run with --backend ort on the CPU."
    fi
    log "all checks passed: ${VENV_DIR}/bin/skyseg is ready"
}

# JetPack's cv2 must be the one imported, and it must have GStreamer (csi:// and most v4l2 pipelines need it).
check_cv2() {
    local out
    if ! out="$("${VENV_DIR}/bin/python" - <<'EOF'
import re, sys
import cv2
gst = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
print(cv2.__file__)
print(gst.group(1) if gst else "unknown")
EOF
    )"; then
        warn "cv2 does not import in ${VENV_DIR}; install JetPack's OpenCV (sudo apt-get install nvidia-opencv)."
        return 1
    fi
    local path="${out%%$'\n'*}" gst="${out##*$'\n'}"
    if [[ "${path}" == "${VENV_DIR}"/* ]]; then
        warn "cv2 is imported from the venv (${path}), i.e. a pip OpenCV without GStreamer shadows JetPack's; run: ${VENV_DIR}/bin/pip uninstall -y ${BLOCKED_CV2_WHEELS[*]}"
        return 1
    fi
    if [[ "${gst}" != YES ]]; then
        warn "cv2 at ${path} was built without GStreamer (GStreamer: ${gst}); csi:// cameras will not open. Reinstall JetPack's OpenCV: sudo apt-get install --reinstall nvidia-opencv"
        return 1
    fi
    log "ok: cv2 ${path} with GStreamer"
}

main() {
    parse_args "$@"
    detect_jetpack
    detect_cuda
    cuda_python_spec
    apt_packages
    ((DRY_RUN)) && log "dry run: nothing will be changed"
    log "JetPack ${JETPACK} (L4T ${L4T_VERSION}), CUDA ${CUDA_VERSION}, venv ${VENV_DIR}"
    check_python
    if ((WITH_APT)); then
        as_root apt-get update
        as_root apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
    else
        log "skipping apt (--no-apt): needs ${APT_PACKAGES[*]}"
    fi
    make_venv
    write_constraints
    pip_install
    ((WITH_SERVICE)) && install_service
    if ((WITH_CHECKS)); then
        final_checks
    else
        log "skipping the final checks (--skip-checks); run them on the board: import tensorrt, gst-inspect-1.0 nvarguscamerasrc"
    fi
}

main "$@"
