#!/usr/bin/env bash
# The device call: install the carried bundle (.gpu_bundle/, made by tests/perf/gpu_bundle.sh) next to
# the image's own torch / transformers, write $OUT/env.txt, run tests/perf/bench_gpu.py with its
# results and log under $OUT. Extra arguments go to bench_gpu.py (the CPU emulation passes --dry-run).
#
#   OUT=/some/folder bash tests/perf/gpu_device.sh [bench_gpu.py options]
# Environment: PYTHON (default python3, the image's), GPU_SITE (install target, default a new
# folder from mktemp -d),
# BENCH_BUDGET_S (bench_gpu.py --budget-s, default 270; the script is stopped 100 s after it, so a
# call with timeout_s 420 ends itself; with the machine's start the call takes about 8 of the
# 15 minutes of device time, leaving a second try).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 3
: "${OUT:?set OUT to the folder whose files come back}"
PY="${PYTHON:-python3}"
SITE="${GPU_SITE:-$(mktemp -d)/site}"
BUDGET="${BENCH_BUDGET_S:-270}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MAX_JOBS="${MAX_JOBS:-8}"

if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        .gpu_bundle/*.whl >"$OUT/install.log" 2>&1; then
    echo "bundle install failed (see install.log)" | tee -a "$OUT/install.log"
    tail -20 "$OUT/install.log"
    exit 3
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"

{
    echo "## date"; date -u
    echo "## nvidia-smi"; nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    echo "## python"; "$PY" -c 'import sys; print(sys.executable, sys.version)'
    echo "## versions"
    "$PY" - <<'EOF' 2>&1
import importlib.metadata as m, os, sysconfig
for name in ("torch", "transformers", "huggingface_hub", "deepspeed", "diffusers", "pydantic", "pydantic_core",
             "typing_extensions", "numpy", "safetensors", "ninja", "msvg_bench"):
    try:
        print(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name} MISSING")
header = os.path.join(sysconfig.get_paths()["include"], "Python.h")
print(f"Python.h {'present' if os.path.exists(header) else 'absent'} ({header})")
import torch
print(f"torch.cuda.is_available {torch.cuda.is_available()}, devices {torch.cuda.device_count()}, cuda {torch.version.cuda}")
if torch.cuda.is_available():
    print(f"device 0: {torch.cuda.get_device_name(0)}")
EOF
    echo "## g++"; g++ --version 2>&1 | head -1 || echo "g++: absent"
    echo "## nvcc"; nvcc --version 2>&1 | tail -2 || echo "nvcc: absent"
    echo "## CPU / disk"; nproc; df -h /tmp 2>&1 | tail -1
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

timeout --kill-after=20 "$((${BUDGET%.*} + 100))" \
    "$PY" -u tests/perf/bench_gpu.py --out "$OUT" --budget-s "$BUDGET" "$@" 2>&1 | tee "$OUT/bench_gpu.log"
exit "${PIPESTATUS[0]}"
