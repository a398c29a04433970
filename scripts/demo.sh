#!/usr/bin/env bash
# The main job in one command (`make demo`): installs what is missing, starts a local Kafka
# (deploy/kafka) unless one already answers, runs the three scenarios of the design end to end
# (python -m kbridge_demo run: apply examples/kbridge.yaml, gateway, router, sink workers,
# sample events, summary table), and stops everything it started, also on Ctrl-C.
# Extra arguments go to the demo, e.g. `bash scripts/demo.sh --engine native`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started=()
cleanup() {
  for ((i=${#started[@]}-1; i>=0; i--)); do
    eval "${started[$i]}" || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "python packages"
if ! python3 -c "import processor, kbridge_demo, confluent_kafka, faust, fastapi, sqlalchemy, rich" \
     >/dev/null 2>&1 \
   || ! command -v kbridge >/dev/null 2>&1 || [ "${KBRIDGE_FORCE_INSTALL:-0}" = 1 ]; then
  python3 -m pip install -q --disable-pip-version-check -e .
fi
echo "ok"

step "Kafka"
export KBRIDGE_KAFKA__BOOTSTRAP_SERVERS="${KBRIDGE_KAFKA__BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
if deploy/kafka/kafka.sh status >/dev/null 2>&1; then
  echo "using the running broker at $KBRIDGE_KAFKA__BOOTSTRAP_SERVERS"
else
  deploy/kafka/kafka.sh start
  started+=("deploy/kafka/kafka.sh stop")
fi

python3 -m kbridge_demo run "$@"
