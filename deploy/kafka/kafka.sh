#!/usr/bin/env bash
# Run a local Apache Kafka cluster (KRaft, no ZooKeeper, no Docker) from Maven Central jars.
#
#   deploy/kafka/kafka.sh start  [--nodes 1|3]   fetch jars once, format storage, start, wait
#   deploy/kafka/kafka.sh stop                    stop the brokers this script started (by PID)
#   deploy/kafka/kafka.sh status                  show which nodes run and whether they answer
#
# One node: bootstrap 127.0.0.1:9092 (controller 9093), the default of KBRIDGE_KAFKA__BOOTSTRAP_SERVERS.
# Three nodes: bootstrap 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094 (controllers 19192-19194);
# topics default to replication factor 3 and min.insync.replicas 2.
# Data and logs live in $KBRIDGE_KAFKA_HOME (default deploy/kafka/.run); jars in deploy/kafka/.cache.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# the jar cache is keyed by the pom's content, so bumping the version fetches the new jars
POM_KEY="$(sha1sum "$HERE/pom.xml" | cut -c1-12)"
LIBS="${KBRIDGE_KAFKA_LIBS:-$HERE/.cache/kafka-libs-$POM_KEY}"
RUN="${KBRIDGE_KAFKA_HOME:-$HERE/.run}"
NODES=1
CMD="${1:-status}"; shift || true
NODE_ID="${NODE_ID:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --nodes=*) NODES="${1#--nodes=}"; shift ;;
    *) echo "kafka.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$NODES" in 1|3) ;; *) echo "kafka.sh: --nodes must be 1 or 3" >&2; exit 2 ;; esac

fetch_jars() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  echo "kafka.sh: fetching Kafka jars from Maven Central into $LIBS (once)"
  mkdir -p "$LIBS"
  mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIBS" -DincludeScope=runtime
  touch "$LIBS/.complete"
}

java_run() {  # java_run <heap> <node dir> <main class> args...
  local heap="$1" dir="$2"; shift 2
  java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
       -XX:ActiveProcessorCount=2 -Djava.awt.headless=true \
       -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$HERE/log4j2.xml" \
       -cp "$LIBS/*" "$@"
}

node_ports() {  # sets BROKER_PORT and CONTROLLER_PORT for node $1
  if [ "$NODES" = 1 ]; then BROKER_PORT=9092; CONTROLLER_PORT=9093
  else BROKER_PORT=$((19091 + $1)); CONTROLLER_PORT=$((19191 + $1)); fi
}

bootstrap() {
  if [ "$NODES" = 1 ]; then echo "127.0.0.1:9092"
  else echo "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"; fi
}

write_properties() {  # write_properties <node id> <dir>
  local id="$1" dir="$2" voters="" rf=1 isr=1
  if [ "$NODES" = 1 ]; then voters="1@127.0.0.1:9093"
  else voters="1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194"; rf=3; isr=2; fi
  node_ports "$id"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=4
log.retention.hours=168
log.segment.bytes=67108864
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
PROPS
}

answers() {  # does the cluster answer a metadata request?
  python3 - "$(bootstrap)" "$NODES" <<'PY' 2>/dev/null
import sys
try:
    from confluent_kafka.admin import AdminClient
except ImportError:  # before the package is installed: fall back to a TCP check
    import socket
    for hp in sys.argv[1].split(","):
        h, p = hp.rsplit(":", 1)
        socket.create_connection((h, int(p)), timeout=2).close()
    sys.exit(0)
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=3)
sys.exit(0 if len(md.brokers) >= int(sys.argv[2]) else 1)
PY
}

alive() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

start() {
  fetch_jars
  mkdir -p "$RUN"
  echo "$NODES" > "$RUN/nodes"
  local cluster_id=""
  [ -f "$RUN/cluster-id" ] && cluster_id="$(cat "$RUN/cluster-id")"
  if [ -z "$cluster_id" ] || [ "$(cat "$RUN/layout" 2>/dev/null)" != "$NODES" ]; then
    rm -rf "$RUN"/node-*
    cluster_id="$(java_run 128m "$RUN" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    echo "$cluster_id" > "$RUN/cluster-id"
    echo "$NODES" > "$RUN/layout"
  fi
  local heap=768m; [ "$NODES" = 3 ] && heap=512m
  for id in $(seq 1 "$NODES"); do
    local dir="$RUN/node-$id"
    if alive "$dir"; then echo "kafka.sh: node $id already running (pid $(cat "$dir/pid"))"; continue; fi
    mkdir -p "$dir/logs" "$dir/data"
    write_properties "$id" "$dir"
    if [ ! -f "$dir/data/meta.properties" ]; then
      java_run 128m "$dir" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 \
        || { echo "kafka.sh: formatting node $id failed, see $dir/logs/format.log" >&2; exit 1; }
    fi
    ( exec > "$dir/logs/stdout.log" 2>&1 < /dev/null; exec -a "kbridge-kafka-node-$id" \
        java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:ActiveProcessorCount=2 -Djava.awt.headless=true \
        -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$HERE/log4j2.xml" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" ) &
    echo $! > "$dir/pid"
    echo "kafka.sh: started node $id (pid $!) on 127.0.0.1:$BROKER_PORT"
  done
  local deadline=$((SECONDS + 90))
  until answers; do
    if [ $SECONDS -ge $deadline ]; then
      echo "kafka.sh: cluster did not answer within 90 s; logs in $RUN/node-*/logs" >&2; exit 1
    fi
    sleep 1
  done
  echo "kafka.sh: cluster of $NODES node(s) ready at $(bootstrap)"
}

stop_node() {  # stop_node <dir>
  local dir="$1" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true   # a controlled shutdown
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    echo "kafka.sh: stopped $(basename "$dir") (pid $pid)"
  fi
  rm -f "$dir/pid"
}

stop() {
  [ -d "$RUN" ] || { echo "kafka.sh: nothing to stop"; return 0; }
  for dir in "$RUN"/node-*; do [ -d "$dir" ] && stop_node "$dir"; done
  return 0
}

status() {
  [ -f "$RUN/nodes" ] && NODES="$(cat "$RUN/nodes")"
  local running=0
  for dir in "$RUN"/node-*; do
    [ -d "$dir" ] || continue
    if alive "$dir"; then echo "$(basename "$dir"): running (pid $(cat "$dir/pid"))"; running=$((running + 1))
    else echo "$(basename "$dir"): stopped"; fi
  done
  if [ "$running" -gt 0 ] && answers; then echo "cluster answers at $(bootstrap)"; return 0; fi
  echo "cluster not answering"; return 1
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  stop-node) stop_node "$RUN/node-${NODE_ID:?set NODE_ID}" ;;   # NODE_ID=2 kafka.sh stop-node (tests)
  status) status ;;
  *) echo "usage: kafka.sh start|stop|status [--nodes 1|3]" >&2; exit 2 ;;
esac
