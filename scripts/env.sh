# Sourced by the other scripts: default locations for data and cache.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${TINYBERT_LAB_DATA:-}" ] && [ -d "$REPO/../shared/data" ]; then
  export TINYBERT_LAB_DATA=$(cd "$REPO/../shared/data" && pwd)
fi
export HF_HUB_DISABLE_TELEMETRY=1
