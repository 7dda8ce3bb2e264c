#!/usr/bin/env bash
# Open the notebooks in JupyterLab (set up first if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec .venv/bin/jupyter lab notebooks/ "$@"
