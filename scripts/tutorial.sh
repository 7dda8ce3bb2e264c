#!/usr/bin/env bash
# Set up (first run only) and run the tutorial's main job; results land in outputs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec .venv/bin/python -m tinybert_lab.teaching.tutorial "$@"
