#!/usr/bin/env bash
# Run a local Apache Kafka cluster (KRaft, no ZooKeeper, no Docker) from Maven Central jars.
#
#   deploy/kafka/kafka.sh start  [--nodes 1|3] [--sasl-ssl]
#                                                 fetch jars once, format storage, start, wait
#   deploy/kafka/kafka.sh stop                    stop the brokers this script started (by PID)
#   deploy/kafka/kafka.sh kill                    SIGKILL them (a throw-away cluster: tests)
#   deploy/kafka/kafka.sh status                  show which nodes run and whether they answer
#
# One node: bootstrap 127.0.0.1:9092 (controller 9093), the default of KBRIDGE_KAFKA__BOOTSTRAP_SERVERS.
# Three nodes: bootstrap 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094 (controllers 19192-19194);
# topics default to replication factor 3 and min.insync.replicas 2.
# Data and logs live in $KBRIDGE_KAFKA_HOME (default deploy/kafka/.run); jars in deploy/kafka/.cache.
# Readiness checks use confluent-kafka from $PYTHON (default python3; make test sets it).
#
# --sasl-ssl (one node) also opens a SASL_SSL listener on 127.0.0.1:9096: SCRAM-SHA-512, user
# kbridge / password kbridge-secret, TLS with a CA and broker certificate generated (openssl,
# keytool) into $KBRIDGE_KAFKA_HOME/tls at start; clients trust $KBRIDGE_KAFKA_HOME/tls/ca.crt.
# 9092 stays PLAINTEXT (brokers and every other test use it). `status` also checks 9096.
#
# A second single-node cluster beside the first (e.g. to try the SASL listener without touching
# a shared broker) takes its own home and ports:
#   KBRIDGE_KAFKA_HOME=/tmp/k2 KBRIDGE_KAFKA_PORT=29092 KBRIDGE_KAFKA_CONTROLLER_PORT=29093 \
#   KBRIDGE_KAFKA_SASL_PORT=29096 deploy/kafka/kafka.sh start --sasl-ssl
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# the jar cache is keyed by the pom's content, so bumping the version fetches the new jars
POM_KEY="$(sha1sum "$HERE/pom.xml" | cut -c1-12)"
LIBS="${KBRIDGE_KAFKA_LIBS:-$HERE/.cache/kafka-libs-$POM_KEY}"
RUN="${KBRIDGE_KAFKA_HOME:-$HERE/.run}"
NODES=1
SASL_SSL=0
PORT="${KBRIDGE_KAFKA_PORT:-9092}"                       # one node: PLAINTEXT listener
CPORT="${KBRIDGE_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"  # one node: controller listener
SASL_PORT="${KBRIDGE_KAFKA_SASL_PORT:-9096}"             # one node, --sasl-ssl: SASL_SSL listener
SASL_USER=kbridge
SASL_PASSWORD=kbridge-secret
TLS_PASSWORD=kbridge-tls   # the broker keystore's password (local test certificates only)
CMD="${1:-status}"; shift || true
NODE_ID="${NODE_ID:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --nodes=*) NODES="${1#--nodes=}"; shift ;;
    --sasl-ssl) SASL_SSL=1; shift ;;
    *) echo "kafka.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$NODES" in 1|3) ;; *) echo "kafka.sh: --nodes must be 1 or 3" >&2; exit 2 ;; esac
if [ "$SASL_SSL" = 1 ] && [ "$NODES" != 1 ]; then
  echo "kafka.sh: --sasl-ssl is for the one-node cluster" >&2; exit 2
fi

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
  if [ "$NODES" = 1 ]; then BROKER_PORT=$PORT; CONTROLLER_PORT=$CPORT
  else BROKER_PORT=$((19091 + $1)); CONTROLLER_PORT=$((19191 + $1)); fi
}

bootstrap() {
  if [ "$NODES" = 1 ]; then echo "127.0.0.1:$PORT"
  else echo "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"; fi
}

write_properties() {  # write_properties <node id> <dir>
  local id="$1" dir="$2" voters="" rf=1 isr=1
  if [ "$NODES" = 1 ]; then voters="1@127.0.0.1:$CPORT"
  else voters="1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194"; rf=3; isr=2; fi
  node_ports "$id"
  local listeners="PLAINTEXT://127.0.0.1:$BROKER_PORT" map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  local advertised="PLAINTEXT://127.0.0.1:$BROKER_PORT"
  if [ "$SASL_SSL" = 1 ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$SASL_PORT"
    advertised="$advertised,SASL_SSL://127.0.0.1:$SASL_PORT"
    map="$map,SASL_SSL:SASL_SSL"
  fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$map
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
  if [ "$SASL_SSL" = 1 ]; then
    cat >> "$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$RUN/tls/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$TLS_PASSWORD
listener.name.sasl_ssl.ssl.key.password=$TLS_PASSWORD
PROPS
  fi
}

make_tls() {  # a fresh CA and broker certificate (CN/SAN 127.0.0.1, localhost) in $RUN/tls
  local tls="$RUN/tls"
  rm -rf "$tls"; mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=kbridge local test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 365 -extfile "$tls/ext.cnf" -out "$tls/broker.crt" 2>/dev/null
  openssl pkcs12 -export -name broker -in "$tls/broker.crt" -inkey "$tls/broker.key" \
    -certfile "$tls/ca.crt" -passout "pass:$TLS_PASSWORD" -out "$tls/broker.p12"
  # keytool reads it back: a keystore the JVM cannot open fails here, not in the broker log
  keytool -list -storetype PKCS12 -keystore "$tls/broker.p12" -storepass "$TLS_PASSWORD" >/dev/null
  rm -f "$tls/broker.csr" "$tls/ext.cnf" "$tls/ca.srl"
  echo "kafka.sh: TLS certificates in $tls (clients trust $tls/ca.crt)"
}

add_scram_user() {  # the SCRAM-SHA-512 credential, set over the PLAINTEXT listener (idempotent)
  java_run 128m "$RUN" org.apache.kafka.tools.ConfigCommand --bootstrap-server "$(bootstrap)" \
    --alter --entity-type users --entity-name "$SASL_USER" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$SASL_PASSWORD]" >"$RUN/scram.log" 2>&1 \
    || { echo "kafka.sh: could not add the SCRAM user, see $RUN/scram.log" >&2; exit 1; }
}

sasl_answers() {  # does the SASL_SSL listener authenticate kbridge and answer?
  "${PYTHON:-python3}" - "127.0.0.1:$SASL_PORT" "$RUN/tls/ca.crt" "$SASL_USER" "$SASL_PASSWORD" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
conf = {"bootstrap.servers": sys.argv[1], "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": sys.argv[3],
        "sasl.password": sys.argv[4], "ssl.ca.location": sys.argv[2], "log_level": 0}
AdminClient(conf).list_topics(timeout=5)
PY
}

answers() {  # does the cluster answer a metadata request?
  "${PYTHON:-python3}" - "$(bootstrap)" "$NODES" <<'PY' 2>/dev/null
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
  if alive "$RUN/node-1"; then
    local was_sasl=0
    [ -f "$RUN/ports" ] && read -r _ _ _ was_sasl < "$RUN/ports"
    if [ "$SASL_SSL" = 1 ] && [ "$was_sasl" != 1 ]; then
      echo "kafka.sh: node 1 runs without the SASL_SSL listener; \`kafka.sh stop\` first" >&2; exit 1
    fi
  else
    echo "$PORT $CPORT $SASL_PORT $SASL_SSL" > "$RUN/ports"
    if [ "$SASL_SSL" = 1 ]; then make_tls; fi  # new certificates only for a node starting now
  fi
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
  if [ "$SASL_SSL" = 1 ]; then
    add_scram_user
    deadline=$((SECONDS + 30))
    until sasl_answers; do
      if [ $SECONDS -ge $deadline ]; then
        echo "kafka.sh: SASL_SSL listener 127.0.0.1:$SASL_PORT did not authenticate within 30 s" >&2
        exit 1
      fi
      sleep 1
    done
    echo "kafka.sh: SASL_SSL (SCRAM-SHA-512, user $SASL_USER) ready at 127.0.0.1:$SASL_PORT," \
         "CA $RUN/tls/ca.crt"
  fi
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

kill_all() {  # SIGKILL every node at once: for a throw-away cluster (tests), no controlled
  # shutdown. `stop` of three nodes takes ~35 s: once two are gone the last has no controller
  # quorum and waits out its 30 s before it is killed anyway.
  [ -d "$RUN" ] || { echo "kafka.sh: nothing to kill"; return 0; }
  local dir pid pids=()
  for dir in "$RUN"/node-*; do
    [ -f "$dir/pid" ] || continue
    pid="$(cat "$dir/pid")"
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    rm -f "$dir/pid"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "kafka.sh: killed pid $pid"
  done
  return 0
}

status() {
  [ -f "$RUN/nodes" ] && NODES="$(cat "$RUN/nodes")"
  [ -f "$RUN/ports" ] && read -r PORT CPORT SASL_PORT SASL_SSL < "$RUN/ports"
  local running=0
  for dir in "$RUN"/node-*; do
    [ -d "$dir" ] || continue
    if alive "$dir"; then echo "$(basename "$dir"): running (pid $(cat "$dir/pid"))"; running=$((running + 1))
    else echo "$(basename "$dir"): stopped"; fi
  done
  if [ "$running" -gt 0 ] && answers; then
    echo "cluster answers at $(bootstrap)"
    if [ "$SASL_SSL" = 1 ]; then
      if sasl_answers; then echo "SASL_SSL answers at 127.0.0.1:$SASL_PORT"
      else echo "SASL_SSL not answering at 127.0.0.1:$SASL_PORT"; return 1; fi
    fi
    return 0
  fi
  echo "cluster not answering"; return 1
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  kill) kill_all ;;   # SIGKILL every node (a cluster whose data is thrown away, e.g. tests)
  stop-node) stop_node "$RUN/node-${NODE_ID:?set NODE_ID}" ;;   # NODE_ID=2 kafka.sh stop-node (tests)
  status) status ;;
  *) echo "usage: kafka.sh start|stop|kill|status [--nodes 1|3] [--sasl-ssl]" >&2; exit 2 ;;
esac
