#!/usr/bin/env bash
# A three-node RabbitMQ cluster on one machine, for running and testing
# docaxis's cluster case without three machines.
#
#   deploy/cluster/cluster.sh up       # start docaxis-1..3, join them, print the URLs
#   deploy/cluster/cluster.sh status   # cluster_status of node 1
#   deploy/cluster/cluster.sh stop N   # stop node N's broker (a node failure)
#   deploy/cluster/cluster.sh start N  # start it again
#   deploy/cluster/cluster.sh down     # stop all three and remove their data
#
# Node N is $NAME-N@localhost (NAME: $DOCAXIS_CLUSTER_NAME, default docaxis),
# AMQP on 127.0.0.1:$((BASE_PORT+N)) (BASE_PORT: $DOCAXIS_CLUSTER_BASE_PORT,
# default 5680, so 5681..5683), Erlang distribution on $((BASE_PORT+20000+N)).
# Data and logs under $DOCAXIS_CLUSTER_DIR (default /tmp/$NAME-cluster). The
# nodes share the Erlang cookie of the rabbitmq user. A RabbitMQ already
# running on 5672 (rabbit@...) is left alone.
#
# The demo against the cluster (rabbitmqctl must reach a cluster node):
#   RABBITMQ_NODENAME=docaxis-1@localhost \
#     docaxis demo --amqp amqp://guest:guest@127.0.0.1:5681
set -euo pipefail

NAME=${DOCAXIS_CLUSTER_NAME:-docaxis}
DIR=${DOCAXIS_CLUSTER_DIR:-/tmp/$NAME-cluster}
BASE_PORT=${DOCAXIS_CLUSTER_BASE_PORT:-5680}
NODES=(1 2 3)
HERE=$(cd "$(dirname "$0")" && pwd)

node() { echo "$NAME-$1@localhost"; }
ctl() { local n=$1; shift; rabbitmqctl -q -n "$(node "$n")" "$@"; }

start_node() {
  local n=$1 d="$DIR/node$1"
  mkdir -p "$d/mnesia" "$d/log"
  # Per-node configuration: the settings docaxis relies on, this node's ports.
  sed -e "s/@AMQP_PORT@/$((BASE_PORT + n))/" "$HERE/node.conf" > "$d/rabbitmq.conf"
  echo "[]." > "$d/enabled_plugins"
  # Debian's rabbitmq-server runs the node as the rabbitmq user.
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$DIR"; fi
  RABBITMQ_NODENAME=$(node "$n") \
  RABBITMQ_NODE_PORT=$((BASE_PORT + n)) \
  RABBITMQ_DIST_PORT=$((BASE_PORT + 20000 + n)) \
  RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
  RABBITMQ_MNESIA_BASE="$d/mnesia" \
  RABBITMQ_LOG_BASE="$d/log" \
  RABBITMQ_PID_FILE="$d/pid" \
    rabbitmq-server -detached
}

wait_node() {
  local n=$1
  # `wait` follows the node's OS process: it fails at once if it dies.
  if ! rabbitmqctl -q -n "$(node "$n")" wait "$DIR/node$n/pid" --timeout 180 >/dev/null; then
    echo "node $(node "$n") did not start; see $DIR/node$n/log" >&2
    return 1
  fi
}

stop_node() {
  local n=$1
  rabbitmqctl -q -n "$(node "$n")" stop "$DIR/node$n/pid" >/dev/null 2>&1 || true
}

case "${1:-}" in
  up)
    for n in "${NODES[@]}"; do start_node "$n"; done
    for n in "${NODES[@]}"; do wait_node "$n"; done
    for n in 2 3; do
      if ! ctl 1 cluster_status --formatter json | grep -q "$(node "$n")\".*running\|\"running_nodes\":\[[^]]*$(node "$n")"; then
        # rabbitmqctl's chatter about the reset goes to the cluster log.
        {
          ctl "$n" stop_app
          ctl "$n" reset
          ctl "$n" join_cluster "$(node 1)"
          ctl "$n" start_app
        } >>"$DIR/cluster.log" 2>&1 || { cat "$DIR/cluster.log" >&2; exit 1; }
      fi
    done
    running=$(ctl 1 cluster_status --formatter json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))')
    [ "$running" = 3 ] || { echo "only $running node(s) running" >&2; exit 1; }
    echo "cluster up: 3 nodes running"
    for n in "${NODES[@]}"; do echo "  $(node "$n")  amqp://guest:guest@127.0.0.1:$((BASE_PORT + n))"; done
    ;;
  status)
    ctl 1 cluster_status
    ;;
  stop)
    n=${2:?"stop N (1, 2 or 3)"}
    stop_node "$n"
    echo "stopped $(node "$n")"
    ;;
  start)
    n=${2:?"start N (1, 2 or 3)"}
    start_node "$n"
    wait_node "$n"
    echo "started $(node "$n")"
    ;;
  down)
    for n in "${NODES[@]}"; do stop_node "$n"; done
    rm -rf "$DIR"
    echo "cluster down"
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
