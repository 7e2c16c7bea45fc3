#!/usr/bin/env bash
# Runs the whole engine locally: the Temporal dev server (state in a SQLite
# file, so a restart resumes where it left off) in the background, and the
# worker with its webhook listener. Ctrl-C (or SIGTERM) stops both.
# Called by `make run`.
#
# Where it listens, from the environment (the defaults are the README's):
#   TEMPORAL_ADDRESS     host:port of the dev server's frontend, which the
#                        worker uses too                     (127.0.0.1:7233)
#   TEMPORAL_UI_PORT     the Web UI's port, on the same host  (frontend port + 1000: 8233)
#   IDSYNC_WEBHOOK_ADDR  the worker's webhook listener; empty disables it
#                                                            (127.0.0.1:8088)
#   TEMPORAL_NAMESPACE   created by the dev server if not "default"
#   TEMPORAL_DB          the dev server's SQLite file         ($STATE/temporal.db)
# The dev server's other ports (HTTP API, metrics, internal services) are
# free ones it picks itself. Two `make run`s side by side need a different
# TEMPORAL_ADDRESS, IDSYNC_WEBHOOK_ADDR and TEMPORAL_DB each.
set -euo pipefail
: "${TEMPORAL:?}" "${STATE:?}" "${SEARCH_ATTRIBUTES:?}"

die() { printf 'make run: %s\n' "$@" >&2; exit 1; }
is_port() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535)); }

# split_addr VAR VALUE: sets $h and $p from host:port ([v6]:port too).
split_addr() {
  local var=$1 v=$2
  [[ $v == *:* ]] || die "$var=$v is not host:port"
  h=${v%:*} p=${v##*:}
  h=${h#\[} h=${h%\]}
  is_port "$p" || die "$var=$v: the port must be 1–65535"
}

# The frontend: the dev server binds this IP; the worker dials it.
split_addr TEMPORAL_ADDRESS "${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
[[ -n $h ]] || die "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS: give the IP to listen on, e.g. 127.0.0.1:$p"
[[ $h == localhost ]] && h=127.0.0.1 # the dev server wants an IP
ip=$h port=$p
if [[ $ip == *:* ]]; then frontend="[$ip]:$port"; else frontend="$ip:$port"; fi
case $ip in # what a client on this machine dials
  0.0.0.0) client_addr=127.0.0.1:$port ;;
  ::) client_addr="[::1]:$port" ;;
  *) client_addr=$frontend ;;
esac

if [[ -n ${TEMPORAL_UI_PORT:-} ]]; then
  ui_port=$TEMPORAL_UI_PORT ui_var=TEMPORAL_UI_PORT
  is_port "$ui_port" || die "TEMPORAL_UI_PORT=$ui_port: the port must be 1–65535"
else
  ui_port=$((port + 1000)) ui_var="TEMPORAL_UI_PORT, by default the frontend port + 1000"
  ((ui_port <= 65535)) || die "the TEMPORAL_ADDRESS port + 1000 is not a port: set TEMPORAL_UI_PORT"
fi
case $ip in
  127.0.0.1 | 0.0.0.0 | ::) ui_url=http://localhost:$ui_port ;;
  *:*) ui_url="http://[$ip]:$ui_port" ;;
  *) ui_url=http://$ip:$ui_port ;;
esac

# The webhook: set but empty disables it, as for the worker itself.
webhook=${IDSYNC_WEBHOOK_ADDR-127.0.0.1:8088}
if [[ -n $webhook ]]; then
  split_addr IDSYNC_WEBHOOK_ADDR "$webhook"
  wh_ip=$h wh_port=$p
  case $wh_ip in
    '' | 0.0.0.0) wh_url=http://127.0.0.1:$wh_port ;;
    ::) wh_url="http://[::1]:$wh_port" ;;
    *:*) wh_url="http://[$wh_ip]:$wh_port" ;;
    *) wh_url=http://$wh_ip:$wh_port ;;
  esac
fi

namespace=${TEMPORAL_NAMESPACE:-default}
db=${TEMPORAL_DB:-$STATE/temporal.db}
log=${db%.db}.log

# Before starting anything: is every port free, and the state file unused?
# A port counts as taken when something answers on it.
taken() { # ip port
  local ip=$1
  case $ip in '' | 0.0.0.0) ip=127.0.0.1 ;; ::) ip=::1 ;; esac
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$ip" "$2" 2>/dev/null
}
owner() { # port: " (by NAME, pid N)" when ss can tell
  local u
  u=$(ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/ (by \1, pid \2)/p' | head -n1) || true
  printf '%s' "$u"
}
# free_after IP PORT: the first port above PORT that nothing answers on.
free_after() {
  local p=$2
  while ((p < 65535)); do
    p=$((p + 1))
    taken "$1" "$p" || break
  done
  echo "$p"
}
short() { echo "${1#"$PWD"/}"; } # a path, relative to the repository when inside it
problems=() fixes=()
if taken "$ip" "$port"; then
  problems+=("port $port for the Temporal frontend (TEMPORAL_ADDRESS) is already in use$(owner "$port")")
  p=$port
  while p=$(free_after "$ip" "$p") && [[ -z ${TEMPORAL_UI_PORT:-} ]] && ((p + 1000 <= 65535)) && taken "$ip" $((p + 1000)); do :; done
  port_fix=$p
  fixes+=("TEMPORAL_ADDRESS=${frontend%:*}:$p")
fi
if taken "$ip" "$ui_port"; then
  problems+=("port $ui_port for the Temporal Web UI ($ui_var) is already in use$(owner "$ui_port")")
  [[ -n ${port_fix:-} && -z ${TEMPORAL_UI_PORT:-} ]] || fixes+=("TEMPORAL_UI_PORT=$(free_after "$ip" "$ui_port")")
fi
((ui_port != port)) || problems+=("TEMPORAL_UI_PORT=$ui_port is the frontend's port too: choose another")
if [[ -n $webhook ]]; then
  if taken "$wh_ip" "$wh_port"; then
    problems+=("port $wh_port for the webhook listener (IDSYNC_WEBHOOK_ADDR; empty disables it) is already in use$(owner "$wh_port")")
    fixes+=("IDSYNC_WEBHOOK_ADDR=${webhook%:*}:$(free_after "$wh_ip" "$wh_port")")
  fi
  if ((wh_port == port || wh_port == ui_port)); then
    problems+=("IDSYNC_WEBHOOK_ADDR=$webhook uses the port of Temporal's frontend or Web UI: choose another")
  fi
fi

mkdir -p "$STATE" "$(dirname "$db")"
# One dev server per state file: a lock that the dev server and worker
# inherit, so it is held as long as either runs.
exec {lock}>>"$db.lock"
# lock_holder: the make run that holds the lock, by the pid it wrote; when
# that one is gone (killed), the dev server or worker it left, which hold
# the lock still.
lock_holder() {
  local pid pids=() p
  pid=$(cat "$db.lock" 2>/dev/null) || true
  if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    for p in $(fuser "$db.lock" 2>/dev/null || lsof -t "$db.lock" 2>/dev/null); do
      [[ $p == "$$" ]] || pids+=("$p")
    done
    pid=${pids[0]:-}
  fi
  if [[ -z $pid ]]; then
    printf 'a process fuser cannot name'
    return
  fi
  printf 'pid %s: %s' "$pid" "$(ps -o args= -p "$pid" 2>/dev/null | cut -c1-80)"
}
if flock -n "$lock"; then
  echo $$ >"$db.lock"
else
  problems+=("$(short "$db") (TEMPORAL_DB) is in use by another make run ($(lock_holder)); stop it with Ctrl-C in its terminal, or kill that pid")
  fixes+=("TEMPORAL_DB=$(short "$STATE")/temporal-${port_fix:-$port}.db")
fi

if ((${#problems[@]} > 0)); then
  ((${#fixes[@]} == 0)) || problems+=("to run beside it, for example:  ${fixes[*]} make run")
  die "${problems[@]}"
fi

sa_flags=()
for sa in $SEARCH_ATTRIBUTES; do sa_flags+=(--search-attribute "$sa"); done
ns_flags=()
[[ $namespace == default ]] || ns_flags=(--namespace "$namespace")

server='' worker=''
# shellcheck disable=SC2317 # used by cleanup, which the traps call
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
# stop PID NAME: SIGTERM, then SIGKILL after 15 s; reaps it.
stop() {
  local pid=$1 i
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 75; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "make run: $2 did not stop within 15 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # called by the traps
cleanup() {
  trap - INT TERM EXIT
  if alive "$worker" || alive "$server"; then echo "stopping the worker and the Temporal dev server…" >&2; fi
  stop "$worker" "the worker"
  stop "$server" "the Temporal dev server"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

"$TEMPORAL" server start-dev \
  --db-filename "$db" \
  --ip "$ip" --port "$port" --ui-port "$ui_port" \
  --log-level warn \
  "${ns_flags[@]}" "${sa_flags[@]}" >"$log" 2>&1 &
server=$!

server_failed() {
  echo "make run: the Temporal dev server $1; the end of $(short "$log"):" >&2
  tail -n 15 "$log" >&2
  if grep -q 'cannot assign requested address' "$log"; then
    echo "make run: TEMPORAL_ADDRESS=$frontend is not an address of this machine, where make run starts the dev server: unset it, or give 127.0.0.1:PORT" >&2
  elif grep -q 'address already in use' "$log"; then
    echo "make run: a port was taken meanwhile: see TEMPORAL_ADDRESS and TEMPORAL_UI_PORT" >&2
  fi
  exit 1
}
echo "waiting for the Temporal dev server at $frontend (log: $(short "$log"))…"
for ((i = 0; ; i++)); do
  kill -0 "$server" 2>/dev/null || server_failed "exited"
  # Healthy is not enough: another server may answer on the address while
  # ours fails. Ours prints its banner ("Server: …") once it serves.
  if grep -q '^Server: ' "$log" && "$TEMPORAL" operator cluster health --address "$client_addr" >/dev/null 2>&1; then break; fi
  ((i < 240)) || server_failed "did not answer within 2 minutes"
  sleep 0.5
done

metrics=''
for ((i = 0; i < 10; i++)); do # the dev server's banner, in its log
  metrics=$(sed -n 's/^Metrics: *//p' "$log" | head -n1)
  [[ -z $metrics ]] || break
  sleep 0.2
done
echo
echo "  Temporal Web UI    $ui_url"
echo "  Temporal frontend  $frontend   (namespace $namespace${metrics:+; metrics $metrics})"
if [[ -n $webhook ]]; then
  echo "  webhook            $wh_url/v1/connections/{connection}/changes"
else
  echo "  webhook            disabled (IDSYNC_WEBHOOK_ADDR is empty)"
fi
echo "  state              $(short "$db")"
if [[ $client_addr != 127.0.0.1:7233 ]]; then
  echo
  echo "  ./bin/starter in another shell needs:  export TEMPORAL_ADDRESS=$client_addr"
fi
if [[ $namespace != default ]]; then
  echo "  (and export TEMPORAL_NAMESPACE=$namespace)"
fi
echo
echo "starting the worker; Ctrl-C stops everything"

# In the background, so that a signal to this script is handled at once
# (bash runs traps only between commands, and `wait` is interruptible).
./bin/worker --temporal-address "$client_addr" --namespace "$namespace" --webhook-addr "$webhook" &
worker=$!
status=0
wait -n "$worker" "$server" || status=$?
if ! kill -0 "$server" 2>/dev/null; then
  wait "$server" 2>/dev/null || true
  server=''
  stop "$worker" "the worker"
  worker=''
  server_failed "stopped"
fi
worker='' # it exited on its own
exit "$status"
