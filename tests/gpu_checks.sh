#!/bin/bash
# One prepared GPU run (docs/gpu_checks.md): run from the repo root on a machine with CUDA, PyTorch and CuPy.
# Ultralytics may come from SKYSEG_EXTRA_SITE (default .gpu/site: a copy of its package folder) when it is not
# installed there. Results land in $OUT (default ./gpu-out).
# The run: model equivalence on CUDA (pytest, float32/float64), autocast checks + GPU timings,
# the CuPy pre/post-processing check and its pytest files, and the model bench on the host CPU (one thread).
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS=1 YOLO_CONFIG_DIR=/tmp/yolo
mkdir -p /tmp/site/skyseg /tmp/yolo
for p in cli models export calib runtime synth; do ln -sfn "$PWD/$p" /tmp/site/skyseg/$p; done
export PYTHONPATH=$PWD/${SKYSEG_EXTRA_SITE:-.gpu/site}:/tmp/site
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, ultralytics, cupy, cv2; print('torch', torch.__version__, 'ultralytics', ultralytics.__version__, 'cupy', cupy.__version__, 'cv2', cv2.__version__)"
SKYSEG_TEST_DEVICE=cuda timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="--import-mode=importlib -ra" \
  tests/models/test_blocks.py tests/models/test_selective_scan.py tests/models/test_model_deploy.py -k "not onnx" \
  > "$OUT"/pytest_models_cuda.log 2>&1; echo "pytest models cuda rc=$?"; tail -5 "$OUT"/pytest_models_cuda.log
timeout 150 python3 -m skyseg.models.tools.gpu_check > "$OUT"/models_gpu_check.md 2>"$OUT"/models_gpu_check.err; echo "models gpu_check rc=$?"
cat "$OUT"/models_gpu_check.md; tail -3 "$OUT"/models_gpu_check.err
timeout 90 python3 -m skyseg.runtime.process.gpu_check --json "$OUT"/runtime_gpu_check.json > "$OUT"/runtime_gpu_check.log 2>&1; echo "runtime gpu_check rc=$?"
tail -15 "$OUT"/runtime_gpu_check.log
timeout 90 python3 -m pytest -q -p no:cacheprovider -o addopts="--import-mode=importlib -ra" tests/runtime/process/test_gpu_preprocess.py \
  tests/runtime/process/test_gpu_masks.py tests/runtime/process/test_segmenter.py > "$OUT"/pytest_runtime_gpu.log 2>&1; echo "pytest runtime gpu rc=$?"
tail -12 "$OUT"/pytest_runtime_gpu.log
# the same machine's CPU, one thread: a second, quieter CPU for the train/deploy latency ratio
timeout 240 python3 -m skyseg.bench.models --imgsz 320 640 --threads 1 --runs 20 > "$OUT"/models_bench_host_cpu.md 2>&1
echo "models bench (host CPU) rc=$?"; cat "$OUT"/models_bench_host_cpu.md
lscpu | grep -E "Model name|Flags" | cut -c1-400 > "$OUT"/host_cpu.txt
