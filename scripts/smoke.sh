#!/usr/bin/env bash
# Smoke test of a plain install, as a new user gets it: `pip install .` (no extras) into a
# fresh virtualenv, then
#   1. import every module under processor/ (a module that needs an optional extra may only
#      miss a package that extra declares),
#   2. start each long-running process kind against the broker for a few seconds: gateway
#      (until GET /readyz answers 200), router with both engines, one sink, one source;
#      each must still run and its log must show no traceback or import error.
# Catches what the test venv cannot: a dependency that only the dev extra (or the machine's
# system Python) happens to provide.
#
#   scripts/smoke.sh                 # Kafka must answer at $KBRIDGE_KAFKA__BOOTSTRAP_SERVERS
#   SMOKE_SECONDS=8 scripts/smoke.sh # how long the processes run after the gateway is ready
# Uses pip's cache (~/.cache/pip), so a second run installs in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON_BASE="${PYTHON_BASE:-python3}"
SECONDS_RUNNING="${SMOKE_SECONDS:-8}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbridge-smoke.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n==> smoke: %s\n' "$*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

step "fresh venv, pip install . (no extras)"
"$PYTHON_BASE" -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
KBRIDGE="$WORK/venv/bin/kbridge"
# a copy of the sources, so the build leaves nothing in the checkout
mkdir "$WORK/src"
cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/processor" "$ROOT/schemas" "$ROOT/examples" \
  "$WORK/src/"
"$PY" -m pip install -q --disable-pip-version-check "$WORK/src"
cd "$WORK"  # the checkout's processor/ must not shadow the installed package

step "import every module under processor/ (and the demo package)"
"$PY" - <<'PY'
import importlib
import importlib.metadata
import pkgutil
import re
import sys

import processor

# modules of an optional extra may miss exactly the packages that extra declares
OPTIONAL_IMPORTS = {"aiomqtt": "aiomqtt", "aio_pika": "aio-pika", "aiormq": "aiormq", "nats": "nats-py"}
declared = {
    re.split(r"[<>=!~;\[ ]", req)[0].lower()
    for req in importlib.metadata.requires("kbridge") or []
    if "extra ==" in req and "extra == \"dev\"" not in req
}
assert processor.__file__ and "site-packages" in processor.__file__, processor.__file__
import kbridge_demo  # the demo package (examples/), shipped in the same wheel

failed, optional, count = [], [], 0
modules = [
    *pkgutil.walk_packages(processor.__path__, "processor."),
    *pkgutil.walk_packages(kbridge_demo.__path__, "kbridge_demo."),
]
for info in modules:
    if info.name.endswith(".__main__"):
        continue  # a program, not a module: importing it runs it
    count += 1
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if OPTIONAL_IMPORTS.get(top, "").lower() in declared:
            optional.append(f"{info.name} (needs {OPTIONAL_IMPORTS[top]}, an optional extra)")
        else:
            failed.append(f"{info.name}: {exc!r}")
    except Exception as exc:  # noqa: BLE001 - report every failure, not only the first
        failed.append(f"{info.name}: {exc!r}")
for line in optional:
    print(f"  optional: {line}")
if failed:
    print("modules that do not import in a plain install:", *failed, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"  {count} modules: {count - len(optional)} imported, {len(optional)} need an extra")
PY

step "start gateway, router (faust, native), sink, source"
suffix="smoke$$${RANDOM}"
export KBRIDGE_RULES_TOPIC="kbridge.rules.$suffix" PYTHONUNBUFFERED=1
export KBRIDGE_KAFKA__BOOTSTRAP_SERVERS="${KBRIDGE_KAFKA__BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$WORK/kbridge.yaml" <<YAML
buses: [{name: $suffix, partitions: 1}]
sources:
  - {name: tick-$suffix, kind: schedule, bus: $suffix, expression: "rate(1 minute)"}
targets:
  - {name: hook-$suffix, kind: webhook, url: "http://127.0.0.1:9/none", allow_private_network: true}
rules:
  - {name: all-$suffix, bus: $suffix, pattern: {source: [smoke]}, targets: [{target: hook-$suffix}]}
YAML
"$KBRIDGE" apply -f "$WORK/kbridge.yaml" >"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log"; fail "kbridge apply"; }

names=(gateway router-faust router-native sink source)
start() {  # start <name> args...
  local name="$1"; shift
  "$KBRIDGE" "$@" >"$WORK/$name.log" 2>&1 &
  pids+=("$!")
}
start gateway gateway --port "$port"
start router-faust router --engine faust --group-id "faust-$suffix"
start router-native router --engine native --group-id "native-$suffix"
start sink sink "hook-$suffix"
start source source "tick-$suffix"

deadline=$((SECONDS + 90))
until "$PY" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:$port/readyz', timeout=2).status != 200)" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || { cat "$WORK/gateway.log"; fail "gateway /readyz did not answer 200 within 90 s"; }
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$WORK/gateway.log"; fail "the gateway exited"; }
  sleep 1
done
echo "  gateway: GET /readyz 200"
sleep "$SECONDS_RUNNING"

status=0
for i in "${!names[@]}"; do
  name="${names[$i]}" log="$WORK/${names[$i]}.log"
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    echo "smoke: $name exited early:" >&2; tail -n 40 "$log" >&2; status=1
  elif grep -qE "Traceback|ModuleNotFoundError|ImportError" "$log"; then
    echo "smoke: $name logged an error:" >&2; tail -n 40 "$log" >&2; status=1
  else
    echo "  $name: running after ${SECONDS_RUNNING}s, clean log"
  fi
done
[ "$status" = 0 ] || fail "see the logs above"
echo "smoke: OK"
