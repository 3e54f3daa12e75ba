#!/usr/bin/env bash
# The GPU check: on a machine with one CUDA GPU and PyTorch installed, from the repository root,
#
#   tools/gpu_check.sh [--graph DIR] [--out FILE] [--device DEV] [--quick] [--no-analyze]
#
# runs, each step under `timeout` and each whether or not the one before it failed:
#   tests   the gpu-marked tests (pytest -m gpu, only on the test files that hold such tests, so a test
#           module that needs a package the machine lacks cannot hide them)
#   bench   python -m naomi_nb bench --device cuda: dims 128 and 512; the seed, uniform:1 (the default
#           objective) and batch:1; 4 epochs each
#   train   the main job (`make run`'s RUN_ARGS, `make -s run-args`) with --device cuda on the full graph,
#           analysed
# and writes one JSON of figures (seconds per epoch against the memory-traffic bound, peak GPU memory
# against the start-up estimate, test counts, the run's epochs, best epoch, minutes and MRR, torch and
# the GPU) to FILE, default $OUT/gpu_check.json when $OUT is set, else runs/gpu_check/gpu_check.json.
# The steps' logs and bench.json are copied beside it; the run directory stays in a temporary folder
# (its path is printed). Exit status 0 when every step passed, 1 when one failed (the JSON says which).
#
# Nothing is downloaded: the repository need not be installed (PYTHONPATH is set to it), and only
# torch, numpy, scipy, matplotlib, tqdm and pytest are needed. How the graph gets there: the check reads
# the prepared full WordNet, data/wordnet_training, which is git-ignored, so it travels with the working
# tree only when named in the copy: 26 MB, which with the tracked files (under 1 MB) is 27 MB of the
# 64 MiB a copied working tree may hold. Build it anywhere with `python -m naomi_nb prepare-wordnet`
# (that needs NLTK's WordNet) and copy the folder.
#
# Time: at most about 8 minutes (limits 100 + 140 + 200 s and start-ups); each limit can be changed
# with GPU_CHECK_TESTS_S, GPU_CHECK_BENCH_S, GPU_CHECK_TRAIN_S. --quick runs the same steps with tiny
# settings (2 epochs, 16 dims, 32 at most in the run), so the plumbing can be tried on a CPU:
# --device cpu --quick.
set -u

graph=data/wordnet_training
out=""
device=cuda
quick=0
analyze=--analyze
while [ $# -gt 0 ]; do
  case "$1" in
    --graph) graph=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-analyze) analyze=--no-analyze; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see tools/gpu_check.sh --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
PY=${PYTHON:-python3}
if [ -z "$out" ]; then
  if [ -n "${OUT:-}" ]; then out=$OUT/gpu_check.json; else out=runs/gpu_check/gpu_check.json; fi
fi
if [ ! -f "$graph/manifest.json" ]; then
  echo "error: no prepared graph at $graph (copy data/wordnet_training next to the repository, or pass --graph DIR)" >&2
  exit 2
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1 PYTHONUNBUFFERED=1
if [ "$device" != cpu ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "error: torch sees no CUDA device here (to try the check on a CPU: --device cpu --quick)" >&2
  exit 2
fi

if [ $quick = 1 ]; then
  bench_args=(--dims 16 --epochs 2)
  train_args=(--epochs 2 --embedding-dim 16 --max-dims 32 --expand-by 16 --batch-size 262144)
else
  bench_args=(--dims 128,512 --epochs 4)
  train_args=()
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/naomi-gpu-check.XXXXXX")
echo "gpu check: graph $graph, device $device$([ $quick = 1 ] && echo ', quick'), work folder $work"

# step NAME LIMIT CMD...: CMD under `timeout` (SIGTERM, SIGKILL 15 s later), its output in WORK/NAME.log,
# its exit code and seconds appended to WORK/steps.tsv
step() {
  local name=$1 limit=$2 t0 ms rc
  shift 2
  echo "== $name (at most ${limit} s)"
  t0=$(date +%s%N)
  timeout -k 15 "$limit" "$@" >"$work/$name.log" 2>&1
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  printf '%s\t%s\t%d.%03d\t%s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) "$limit" >>"$work/steps.tsv"
  echo "   exit $rc after $((ms / 1000)) s; last lines:"
  tail -n 4 "$work/$name.log" | sed 's/^/   | /'
}

mapfile -t gpu_tests < <(grep -rl "mark\.gpu" tests --include "test_*.py" 2>/dev/null | sort)
if [ ${#gpu_tests[@]} -gt 0 ]; then
  step tests "${GPU_CHECK_TESTS_S:-100}" "$PY" -m pytest -m gpu "${gpu_tests[@]}" -p no:cacheprovider -p no:nbmake -q -rA \
    --continue-on-collection-errors --junitxml "$work/pytest.xml"
else
  echo "no gpu-marked tests found" >"$work/tests.log"
  printf 'tests\t5\t0\t0\n' >>"$work/steps.tsv"
fi
step bench "${GPU_CHECK_BENCH_S:-140}" "$PY" -m naomi_nb bench --device "$device" --training-data "$graph" \
  --objectives seed,uniform:1,batch:1,graded "${bench_args[@]}" --output "$work/bench.json"
# the README's main job: the Makefile's RUN_ARGS (its geometry, sparsity and stage included)
read -r -a run_args <<<"$(make -s run-args 2>/dev/null || echo --preset aggressive)"
step train "${GPU_CHECK_TRAIN_S:-200}" "$PY" tools/gpu_check.py peak "$work/train_peak.json" -- \
  train --training-data "$graph" "${run_args[@]}" --device "$device" --output-dir "$work/run" $analyze \
  "${train_args[@]}"

"$PY" tools/gpu_check.py report "$work" "$out" --graph "$graph" $([ $quick = 1 ] && echo --quick) \
  $([ $analyze = --no-analyze ] && echo --no-analyze)
