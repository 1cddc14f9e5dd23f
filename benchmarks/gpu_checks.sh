#!/usr/bin/env bash
# Every GPU check in one go, for a machine with CUDA (CI has none): the deep pipeline tests on the GPU,
# CPU-vs-CUDA agreement of every backend, per-model latency/throughput/peak memory, XMem memory on a long shot,
# and the pipeline stages with the deep backends on the GPU (stage code around each network included).
# Output goes to the folder given as $1 (default: gpu-checks/), one text file per check.
#   bash benchmarks/gpu_checks.sh [out-dir]
set -o pipefail
out=${1:-gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$out/gpu.txt"
timeout 210 python3 benchmarks/gpu_models.py --sizes 480,1080 --repeats 3 2>&1 | tee "$out/gpu_models.txt"
CELSTUDIO_TEST_DEVICE=cuda timeout 100 python3 -m pytest -p no:cacheprovider -q tests/test_deep_pipeline.py 2>&1 | tee "$out/tests.txt"
timeout 130 python3 benchmarks/gpu_agreement.py --size 480 2>&1 | tee "$out/agreement.txt"
timeout 80 python3 benchmarks/xmem_memory.py --net real --device cuda --frames 1000 --every 200 2>&1 | tee "$out/xmem_memory.txt"
timeout 240 python3 benchmarks/pipeline.py --sizes 480,1080 --frames 24 --deep cuda 2>&1 | tee "$out/pipeline_deep.txt"
