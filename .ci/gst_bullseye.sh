#!/usr/bin/env bash
# The GStreamer source tests on an older GStreamer than Debian 12's 1.22: a Debian bullseye chroot (GStreamer 1.18,
# Python 3.9, all from Debian's own packages) runs tests/runtime/test_gst_compat.py, test_gst_platform.py and
# sources/test_gst_source.py against this checkout. 1.18 binds `VideoInfo.from_caps` the old way (a method that fills
# the instance) and has no `VideoInfo.new_from_caps`, like JetPack 5's 1.16, so the runtime's pre-1.20 path runs for
# real here. Needs root, debootstrap and Debian's mirror; not part of .ci/run (a first run downloads ~300 MB).
#   SKYSEG_BULLSEYE_ROOT=/srv/bullseye  where the chroot lives (made once, reused)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
ROOT="${SKYSEG_BULLSEYE_ROOT:-/srv/bullseye}"
PACKAGES=python3,python3-gi,gir1.2-gstreamer-1.0,gir1.2-gst-plugins-base-1.0,gstreamer1.0-plugins-base,gstreamer1.0-plugins-good,gstreamer1.0-tools,python3-numpy,python3-pytest,python3-opencv,python3-matplotlib

say() { printf 'gst_bullseye: %s\n' "$*"; }
((EUID == 0)) || { say "needs root (debootstrap, chroot, bind mounts)"; exit 2; }
command -v debootstrap >/dev/null || { say "needs debootstrap: apt-get install debootstrap"; exit 2; }

if [[ ! -x "${ROOT}/usr/bin/gst-inspect-1.0" ]]; then
    say "creating ${ROOT} (debootstrap bullseye)"
    debootstrap --variant=minbase --include="${PACKAGES}" bullseye "${ROOT}" http://deb.debian.org/debian
fi
if ! chroot "${ROOT}" gst-inspect-1.0 x264enc >/dev/null 2>&1; then  # H.264 files for the video-file tests
    cp /etc/resolv.conf "${ROOT}/etc/resolv.conf"
    chroot "${ROOT}" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get -f install -y -q --no-install-recommends &&
        apt-get install -y -q --no-install-recommends gstreamer1.0-plugins-ugly gstreamer1.0-libav'
fi
mkdir -p "${ROOT}/src" "${ROOT}/opt/pkg/skyseg"
mountpoint -q "${ROOT}/src" || mount --bind -o ro "${REPO}" "${ROOT}/src"
mountpoint -q "${ROOT}/proc" || mount -t proc proc "${ROOT}/proc"
cleanup() { umount "${ROOT}/src" 2>/dev/null || true; umount "${ROOT}/proc" 2>/dev/null || true; }
trap cleanup EXIT
# skyseg.runtime without installing anything: the package root is empty, runtime/ is the checkout's
: >"${ROOT}/opt/pkg/skyseg/__init__.py"
ln -sfn /src/runtime "${ROOT}/opt/pkg/skyseg/runtime"
chroot "${ROOT}" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp PYTHONPATH=/opt/pkg PYTHONDONTWRITEBYTECODE=1 \
    /bin/sh -c 'cd /src && gst-inspect-1.0 --version | head -n 2 && python3 --version &&
        python3 -m pytest -q -p no:cacheprovider -o addopts="--import-mode=importlib -ra" \
            tests/runtime/test_gst_compat.py tests/runtime/test_gst_platform.py tests/runtime/sources/test_gst_source.py \
            --deselect tests/runtime/sources/test_gst_source.py::test_cxx_exceptions_still_reach_python_after_gstreamer'
# (that one needs onnx and onnxruntime, which bullseye does not package)
