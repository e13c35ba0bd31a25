#!/usr/bin/env bash
# The GPU check (benchmarks/README.md): on a GPU, the CUDA tests, one paper-profile epoch
# of each experiment, the best experiment trained for --train-seconds (default 240) and
# scored, and one notebook run by papermill on the GPU; on a CPU the same steps at the
# smoke profile. Under 8 minutes on one GPU. Writes $OUT (default build/gpu_check).
#   OUT=build/gpu_check bash benchmarks/gpu_check.sh --train-seconds 150
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"${PYTHON:-python3}" benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
