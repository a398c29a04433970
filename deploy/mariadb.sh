#!/usr/bin/env bash
# Run a private MariaDB server on 127.0.0.1:3306 for tests and the demo (no system service).
#
#   deploy/mariadb.sh install   apt-get install mariadb-server (once per machine)
#   deploy/mariadb.sh start     initialise a data dir, start mariadbd, create kbridge_test + user kbridge
#   deploy/mariadb.sh stop      stop the server this script started (by PID)
#   deploy/mariadb.sh status
#
# Data lives in $KBRIDGE_MARIADB_HOME (default deploy/.run/mariadb). Tests connect with
# mysql+pymysql://kbridge:kbridge@127.0.0.1:3306/kbridge_test (override: KBRIDGE_TEST_MYSQL_URL).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${KBRIDGE_MARIADB_HOME:-$HERE/.run/mariadb}"
PORT="${KBRIDGE_MARIADB_PORT:-3306}"
SOCK="$HOME_DIR/mysqld.sock"
PIDF="$HOME_DIR/mysqld.pid"

install() {
  if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then return; fi
  echo "mariadb.sh: installing mariadb-server from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q mariadb-server >/dev/null
}

alive() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

client() { mariadb --no-defaults -uroot --socket="$SOCK" "$@"; }

start() {
  install
  if alive; then echo "mariadb.sh: already running (pid $(cat "$PIDF"))"; return; fi
  mkdir -p "$HOME_DIR"
  if [ ! -d "$HOME_DIR/data/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$HOME_DIR/data" \
      --auth-root-authentication-method=socket >"$HOME_DIR/install.log" 2>&1 \
      || { echo "mariadb.sh: mariadb-install-db failed, see $HOME_DIR/install.log" >&2; exit 1; }
  fi
  /usr/sbin/mariadbd --no-defaults --user=root --datadir="$HOME_DIR/data" \
    --bind-address=127.0.0.1 --port="$PORT" --socket="$SOCK" --pid-file="$PIDF" \
    --skip-name-resolve --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
    --max-connections=300 --log-error="$HOME_DIR/error.log" >/dev/null 2>&1 &
  for _ in $(seq 1 60); do
    client -e "select 1" >/dev/null 2>&1 && break
    sleep 0.5
  done
  client -e "select 1" >/dev/null 2>&1 || { echo "mariadb.sh: server did not start, see $HOME_DIR/error.log" >&2; exit 1; }
  client <<SQL
CREATE DATABASE IF NOT EXISTS kbridge_test;
CREATE DATABASE IF NOT EXISTS kbridge;
CREATE USER IF NOT EXISTS 'kbridge'@'127.0.0.1' IDENTIFIED BY 'kbridge';
CREATE USER IF NOT EXISTS 'kbridge'@'localhost' IDENTIFIED BY 'kbridge';
GRANT ALL PRIVILEGES ON *.* TO 'kbridge'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'kbridge'@'localhost';
FLUSH PRIVILEGES;
SQL
  echo "mariadb.sh: MariaDB ready on 127.0.0.1:$PORT (pid $(cat "$PIDF"))"
}

stop() {
  if ! alive; then echo "mariadb.sh: not running"; rm -f "$PIDF"; return 0; fi
  local pid; pid="$(cat "$PIDF")"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
  echo "mariadb.sh: stopped (pid $pid)"
}

status() {
  if alive; then echo "mariadb.sh: running (pid $(cat "$PIDF")) on 127.0.0.1:$PORT"; else echo "mariadb.sh: stopped"; return 1; fi
}

case "${1:-status}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: mariadb.sh install|start|stop|status" >&2; exit 2 ;;
esac
