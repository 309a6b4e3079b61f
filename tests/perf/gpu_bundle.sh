#!/usr/bin/env bash
# The wheels the device check (tests/perf/bench_gpu.py) needs beyond the device image's own packages
# (the image has torch 2.11 + CUDA, transformers 5.17, huggingface_hub 1.33, numpy, typer, rich, ...;
# the device machine's documented image lists them), for its Python 3.12 on x86_64, in the git-ignored
# folder .gpu_bundle/ that a device call carries:
#   deepspeed        built here from its sdist (PyPI has no wheel), pure Python, no ops compiled
#                    (DS_BUILD_OPS=0: cpu_adam is JIT-built on the device, or torch AdamW runs)
#   hjson            deepspeed's config parser
#   pydantic (+ pydantic-core for cp312 manylinux, annotated-types, typing-inspection, a
#                    typing-extensions new enough for it)
#   diffusers (+ importlib-metadata)
#   msvg_bench       this project, --no-deps
# Versions: those of the project's environment (.venv), so the device runs what CI tests.
#
#   bash tests/perf/gpu_bundle.sh            # writes .gpu_bundle/*.whl and prints its size
# Rebuild after changing the package (the project wheel is a snapshot of the tree).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DEST="${GPU_BUNDLE_DIR:-$ROOT/.gpu_bundle}"
version() { "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }

rm -rf "$DEST"
mkdir -p "$DEST"
cd "$ROOT"
BINARY=(deepspeed hjson pydantic pydantic-core annotated-types typing-inspection typing-extensions diffusers importlib-metadata)
PINS=()
for name in "${BINARY[@]}"; do PINS+=("$name==$(version "$name")"); done
echo "bundle: ${PINS[*]}"

# deepspeed from its sdist, no ops (its setup.py imports torch: build with this environment's torch).
DS_BUILD_OPS=0 DS_BUILD_STRING="" "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-binary deepspeed \
    -w "$DEST" "${PINS[0]}"
# The rest as published binaries for the device's CPython 3.12 on manylinux x86_64.
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$DEST" "${PINS[@]:1}"
# The project itself (pure Python).
"$PY" -m pip wheel -q --no-deps -w "$DEST" "$ROOT"

if unzip -l "$DEST"/deepspeed-*.whl | grep -qE '\.so$'; then
    echo "error: the deepspeed wheel contains compiled ops (expected DS_BUILD_OPS=0)" >&2
    exit 1
fi
ls -l "$DEST"
du -sh "$DEST" | awk '{print "bundle size: " $1}'
