#!/usr/bin/env bash
# CI on the Pythons Jetsons ship: CPython 3.8 (JetPack 5, Ubuntu 20.04) and 3.10 (JetPack 6, Ubuntu 22.04), from
# pyenv. For each: a venv under .cache/jetson-py/VERSION with the runtime-only install (`pip install -e '.[gst,dev]'`,
# no PyTorch) plus what jetson/install.sh adds for `skyseg build`/`serve` (its COMMAND_DEPS), then
#   1. every skyseg module imports (.ci/jetson_imports.py; only train-side/optional-backend modules may be absent),
#   2. the runtime tests (tests/runtime minus the files that need the train side, listed below with the reason),
#   3. `skyseg run` on the real FITS and JPEG frames of datasets/realsky (ONNX Runtime, bundled model),
#   4. `skyseg serve` start-up: start, GET /api/status, SIGTERM, exit 0.
# The two Pythons run side by side (their work is mostly waiting on subprocesses and GStreamer). A venv is rebuilt
# only when pyproject.toml's dependencies/package map or install.sh's COMMAND_DEPS change. The train side stays on
# the main venv (3.11).
#   SKYSEG_JETSON_PYTHONS="3.8.18 3.10.13"  which pyenv versions to use
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a VERSIONS <<<"${SKYSEG_JETSON_PYTHONS:-3.8.18 3.10.13}"
PYENV_ROOT_DIR="$(pyenv root 2>/dev/null || printf '%s' "${PYENV_ROOT:-${HOME}/.pyenv}")"
CACHE=.cache/jetson-py
REALSKY=datasets/realsky/images/val
# Runtime test files that need the train side, which these venvs do not have by design:
TRAIN_SIDE_TESTS=(
    tests/runtime/test_checkpoint_export.py       # builds a PyTorch checkpoint to export
    tests/runtime/process/test_postprocess_oracle.py  # compares against Ultralytics' own predict
)
# Runtime tests whose *test code* needs a newer Python than the runtime does (the runtime path they cover also runs
# in step 3): dict | dict (3.9).
NEWER_TEST_CODE=(
    "tests/runtime/sources/test_readers.py::test_realsky_folder_as_a_source"
)

say() { printf 'jetson_pythons: %s\n' "$*"; }

command_deps() {  # install.sh's COMMAND_DEPS, one requirement per line
    sed -n '/^readonly COMMAND_DEPS=(/,/^)/p' jetson/install.sh | grep -o '"[^"]*"' | tr -d '"'
}

setup_venv() {
    local version="$1" venv="${CACHE}/$1" py="${PYENV_ROOT_DIR}/versions/$1/bin/python"
    [[ -x "${py}" ]] || { say "CPython ${version} is not installed under ${PYENV_ROOT_DIR} (pyenv install ${version})"; return 1; }
    local want  # what the install depends on: pyproject's dependencies, extras, scripts and package map, COMMAND_DEPS
    want="$({ sed -n '/^dependencies = \[/,/^\[tool\.setuptools\.package-data\]/p' pyproject.toml; command_deps; } |
        sha256sum | cut -c1-16)"
    if [[ -x "${venv}/bin/skyseg" && "$(cat "${venv}/.skyseg-deps" 2>/dev/null)" == "${want}" ]]; then
        say "${version}: reusing ${venv}"
        return 0
    fi
    "${py}" -m venv --clear "${venv}"
    local pip=("${venv}/bin/python" -m pip install -q --disable-pip-version-check)
    mapfile -t extra < <(command_deps)
    # matplotlib only because tests/conftest.py preloads its FreeType before GStreamer's
    if ! "${pip[@]}" -e '.[gst,dev]' "${extra[@]}" matplotlib; then
        say "${version}: PyGObject did not build; installing without GStreamer bindings (GStreamer tests skip)"
        "${pip[@]}" -e '.[dev]' "${extra[@]}" matplotlib
    fi
    printf '%s\n' "${want}" >"${venv}/.skyseg-deps"
}

free_port() { "$1" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

serve_startup() {
    local venv="$1" out="$2" port pid code=0
    port="$(free_port "${venv}/bin/python")"
    "${venv}/bin/skyseg" serve "${REALSKY}" --backend ort --port "${port}" --loop --max-fps 2 --save-dir "${out}/serve" \
        >"${out}/serve.log" 2>&1 &
    pid=$!
    if ! "${venv}/bin/python" - "${port}" <<'EOF'; then
import json, sys, time, urllib.request
deadline = time.monotonic() + 90
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/status", timeout=5) as reply:
            status = json.load(reply)
        print("GET /api/status:", {k: status[k] for k in list(status)[:4]})
        break
    except OSError as err:
        if time.monotonic() > deadline:
            sys.exit(f"skyseg serve did not answer /api/status within 90 s ({err})")
        time.sleep(0.5)
EOF
        kill -TERM "${pid}" 2>/dev/null || true
        wait "${pid}" || true
        tail -n 20 "${out}/serve.log"
        return 1
    fi
    kill -TERM "${pid}"
    wait "${pid}" || code=$?
    if ((code != 0)); then
        say "skyseg serve exited ${code} on SIGTERM (want 0)"
        tail -n 20 "${out}/serve.log"
        return 1
    fi
}

run_checks() {
    local version="$1" venv="${CACHE}/$1" out="${CACHE}/$1.out" t0
    rm -rf "${out}"
    mkdir -p "${out}"
    t0=$(date +%s)
    "${venv}/bin/python" .ci/jetson_imports.py
    local ignore=() deselect=() f
    for f in "${TRAIN_SIDE_TESTS[@]}"; do ignore+=(--ignore "${f}"); done
    for f in "${NEWER_TEST_CODE[@]}"; do deselect+=(--deselect "${f}"); done
    "${venv}/bin/python" -m pytest -q -p no:cacheprovider tests/runtime "${ignore[@]}" "${deselect[@]}"
    say "${version}: runtime tests took $(($(date +%s) - t0)) s"
    "${venv}/bin/skyseg" run "${REALSKY}" --backend ort --headless --save-dir "${out}/run"
    "${venv}/bin/python" - "${REALSKY}" "${out}/run" <<'EOF'
import csv, pathlib, sys
frames = sorted(p.name for p in pathlib.Path(sys.argv[1]).iterdir() if p.suffix.lower() in {".fits", ".gz", ".jpg"})
rows = list(csv.DictReader(open(pathlib.Path(sys.argv[2]) / "results.csv")))
masks = sorted(pathlib.Path(sys.argv[2]).glob("masks/*_mask.png"))
kinds = {n.split(".", 1)[1] for n in frames}
assert len(frames) >= 9 and {"fits", "jpg"} <= kinds, frames
assert len(rows) == len(masks) == len(frames), f"{len(rows)} rows and {len(masks)} masks for {len(frames)} frames"
assert all(not r["error"] and 0 < float(r["sky_fraction"]) < 1 for r in rows), [r["error"] for r in rows]
print(f"skyseg run: {len(rows)} real frames ({', '.join(sorted(kinds))}) -> {len(rows)} rows and masks, no errors")
EOF
    serve_startup "${venv}" "${out}"
    say "${version}: all checks passed in $(($(date +%s) - t0)) s"
}

start=$(date +%s)
mkdir -p "${CACHE}"
pids=()
for version in "${VERSIONS[@]}"; do  # side by side too: most of a cold install is download and unpack
    setup_venv "${version}" >"${CACHE}/${version}.setup.log" 2>&1 &
    pids+=($!)
done
for i in "${!VERSIONS[@]}"; do
    wait "${pids[$i]}" || { say "${VERSIONS[$i]}: venv setup failed:"; tail -n 30 "${CACHE}/${VERSIONS[$i]}.setup.log"; exit 1; }
    grep -h '^jetson_pythons:' "${CACHE}/${VERSIONS[$i]}.setup.log" || true
done
say "venvs ready in $(($(date +%s) - start)) s"
pids=()
for version in "${VERSIONS[@]}"; do
    run_checks "${version}" >"${CACHE}/${version}.log" 2>&1 &
    pids+=($!)
done
failed=0
for i in "${!VERSIONS[@]}"; do
    if wait "${pids[$i]}"; then
        say "${VERSIONS[$i]}: ok ($(tail -n 1 "${CACHE}/${VERSIONS[$i]}.log"))"
    else
        failed=1
        say "${VERSIONS[$i]}: FAILED; its log (${CACHE}/${VERSIONS[$i]}.log) ends:"
        tail -n 40 "${CACHE}/${VERSIONS[$i]}.log"
    fi
done
say "total $(($(date +%s) - start)) s"
exit "${failed}"
