#!/usr/bin/env bash
# The one test command (`make test`): installs what is missing, starts the services the tests
# use (Kafka, MariaDB, MQTT/AMQP/NATS brokers), runs the whole suite, and stops what it started.
# Extra arguments go to pytest, e.g. `make test ARGS="-k patterns"`.
# The interpreter is $PYTHON, else the active virtualenv's python3, else python3 on PATH
# (.ci/run points PYTHON at its fresh .venv so nothing comes from the system Python).
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

step() { printf '\n==> %s\n' "$*"; }

PYTHON="${PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}"
PYTHON="${PYTHON:-python3}"
export PYTHON
step "python packages ($PYTHON)"
if ! "$PYTHON" -c "import processor, pytest, hypothesis, json5" >/dev/null 2>&1 \
   || [ "${KBRIDGE_FORCE_INSTALL:-0}" = 1 ]; then
  "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[dev]'
fi

step "system packages"
if ! command -v docker-compose >/dev/null 2>&1; then
  # the deploy tests validate docker-compose.yml with `docker-compose config` (no engine needed)
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null; }
  else
    echo "docker-compose is missing: sudo apt-get install docker-compose" >&2
  fi
fi

# tests/browser drive Debian's headless chromium through its chromedriver (never a browser download)
browser=()
command -v chromium >/dev/null 2>&1 || browser+=(chromium)
command -v chromedriver >/dev/null 2>&1 || browser+=(chromium-driver)
if [ ${#browser[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${browser[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${browser[@]}" >/dev/null; }
  else
    echo "${browser[*]} missing (tests/browser): sudo apt-get install chromium chromium-driver" >&2
  fi
fi

step "Kafka (PLAINTEXT 9092, SASL_SSL 9096)"
if ! deploy/kafka/kafka.sh status >/dev/null 2>&1; then
  deploy/kafka/kafka.sh start --sasl-ssl
  started+=("deploy/kafka/kafka.sh stop")
elif [ -z "${KBRIDGE_TEST_KAFKA_SASL:-}" ] \
     && ! (exec 3<>/dev/tcp/127.0.0.1/9096) 2>/dev/null; then
  # a broker someone else started without --sasl-ssl: the SASL_SSL tests will say so
  echo "note: Kafka runs without the SASL_SSL listener on 9096; tests/integration/kafka/test_sasl_ssl.py" \
       "needs \`deploy/kafka/kafka.sh stop && deploy/kafka/kafka.sh start --sasl-ssl\`" \
       "(or KBRIDGE_TEST_KAFKA_SASL/KBRIDGE_TEST_KAFKA_CA pointing at a secured node)" >&2
fi

step "MariaDB"
if ! deploy/mariadb.sh status >/dev/null 2>&1; then
  deploy/mariadb.sh start
  started+=("deploy/mariadb.sh stop")
fi

if [ -x deploy/brokers.sh ]; then
  step "MQTT, AMQP and NATS brokers"
  deploy/brokers.sh install
  if ! deploy/brokers.sh status >/dev/null 2>&1; then
    deploy/brokers.sh start
    started+=("deploy/brokers.sh stop")
  fi
fi

step "pytest"
"$PYTHON" -m pytest "$@"
