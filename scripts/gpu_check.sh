#!/usr/bin/env bash
# The GPU checks, for a machine where torch sees a CUDA GPU (CI has none, so they live here):
#   1. tests/unit/student/test_gpu.py: bf16/fp16 training, fp32 checkpoints, GPU inference against the CPU's,
#      and prepare + one round through the stage scripts with the default `train.device: auto`;
#   2. bench/student_speed.py --device auto: evokd's training and inference path against the
#      Hugging Face Trainer (bf16) and pipeline on the same GPU.
# Usage: scripts/gpu_check.sh [results folder] [examples]   (python: $PYTHON, else python3)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
examples=${2:-2048}
py=${PYTHON:-python3}
mkdir -p "$out"
"$py" -m pytest -q -rs -p no:cacheprovider tests/unit/student/test_gpu.py
tests=$?
"$py" bench/student_speed.py --device auto --examples "$examples" --repeats 3 --out "$out/student_speed_gpu.json"
bench=$?
echo "gpu_check: tests exit $tests, benchmark exit $bench"
exit $(( tests || bench ))
