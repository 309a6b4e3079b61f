#!/usr/bin/env bash
# The device environment emulated on a CPU: a Python 3.12 venv with the image's versions of torch,
# transformers and huggingface_hub plus the other image packages the check imports, every distribution
# the image does not have removed again, then the bundle (.gpu_bundle/, tests/perf/gpu_bundle.sh) and
# the device command (tests/perf/gpu_device.sh) with --dry-run, without network (unshare -n, when allowed).
# Heavy (a torch download the first time, minutes): not part of the test suite.
#
#   bash tests/perf/gpu_emulate.sh        # venv + outputs under $GPU_EMU_DIR (default ~/.cache/msvg_bench/gpu_emulation)
# Environment: PYTHON312 (default python3.12), GPU_EMU_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EMU="${GPU_EMU_DIR:-$HOME/.cache/msvg_bench/gpu_emulation}"
VENV="$EMU/venv312"
# The device image's own versions (KINDS.md, pip list). A CPU build of torch 2.11 is used where the
# registry offers one; the default PyPI wheel of 2.11.0 (a CUDA build) also runs on a CPU.
IMAGE_PINS=(torch==2.11.0 transformers==5.17.0 huggingface_hub==1.33.0)
# Image packages the import chain of bench_gpu.py / msvg_bench / deepspeed / diffusers uses.
IMAGE_EXTRA=(numpy safetensors tokenizers pyyaml typer rich psutil ninja msgpack py-cpuinfo einops packaging tqdm
             requests regex filelock pillow nvidia-ml-py setuptools wheel)
# Every distribution of the device image (KINDS.md, "Python packages already there").
IMAGE_PACKAGES="pip absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"

mkdir -p "$EMU"
if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON312:-python3.12}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "${IMAGE_PINS[@]}" "${IMAGE_EXTRA[@]}"
# Remove what the image lacks (installed as dependencies above, or by an earlier bundle): the bundle must bring it.
normalize() { tr 'A-Z_.' 'a-z--'; }
allowed=" $(echo "$IMAGE_PACKAGES" | normalize) "
extra=()
while read -r name; do
    [[ "$allowed" == *" $(echo "$name" | normalize) "* ]] || extra+=("$name")
done < <("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | cut -d= -f1)
if [ "${#extra[@]}" -gt 0 ]; then
    echo "not on the device image, removed: ${extra[*]}"
    "$VENV/bin/python" -m pip uninstall -q -y "${extra[@]}"
fi
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE '^(torch|transformers|huggingface.hub) '

[ -d "$ROOT/.gpu_bundle" ] || bash "$ROOT/tests/perf/gpu_bundle.sh"
du -sh "$ROOT/.gpu_bundle" | awk '{print "bundle size: " $1}'
OUT="$EMU/out"
rm -rf "$OUT" "$EMU/site"
mkdir -p "$OUT"
run=(env OUT="$OUT" PYTHON="$VENV/bin/python" GPU_SITE="$EMU/site" BENCH_BUDGET_S=900 OMP_NUM_THREADS=1
     bash "$ROOT/tests/perf/gpu_device.sh" --dry-run "$@")
rc=0
if unshare -rn true 2>/dev/null; then
    echo "running without network (unshare -n)"
    unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "${run[@]}" || rc=$?
else
    echo "unshare -n not allowed here: running with the network"
    "${run[@]}" || rc=$?
fi
echo "device command --dry-run exit code $rc; results in $OUT"
exit $rc
