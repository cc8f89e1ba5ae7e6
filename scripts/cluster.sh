#!/usr/bin/env bash
# make cluster: a whole Facefleet cluster on 127.0.0.1, in the foreground until Ctrl-C: nats-server with JetStream,
# versitygw serving S3 from a directory, a coordinator and two workers. Credentials are generated once and kept in
# the state dir; the client settings go to the config file every facefleet command reads by default.
# A process that dies once the cluster is up is reported in one line and started again after a backoff (1 s,
# doubling to 30 s, back to 1 s once it has run a minute); the others keep running, so faults can be tried on it.
# CLUSTER_RESTART=0 leaves a dead process dead. `cluster.sh config` only writes the client settings (make cluster
# runs it before setup, whose commands read them).
set -euo pipefail
umask 077 # the state dir holds credentials: everything created here is the user's alone

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CACHE=${FACEFLEET_CACHE:-$HOME/.cache/facefleet}
STATE=${FACEFLEET_CLUSTER_DIR:-$HOME/.local/share/facefleet/cluster}
STATE=${STATE%/}
NATS_PORT=${CLUSTER_NATS_PORT:-4222}
S3_PORT=${CLUSTER_S3_PORT:-7070}
HTTP_PORT=${CLUSTER_HTTP_PORT:-8080} # the coordinator's --http-addr: probes, status API, dashboard
RESTART=${CLUSTER_RESTART:-1}
# The same search as config.DefaultPath in pkg/config.
CONFIG=${FACEFLEET_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/facefleet/config.yaml}
MARKER='# written by make cluster'
HOST=127.0.0.1
NATS_USER=facefleet
BUCKET=facefleet
WORKERS=2

say() { printf 'cluster: %s\n' "$*"; }
die() {
  printf 'cluster: %s\n' "$*" >&2
  exit 1
}

case ${1:-} in
'' | config) ;;
*) die "usage: cluster.sh [config]" ;;
esac
[[ $RESTART == 0 || $RESTART == 1 ]] || die "CLUSTER_RESTART=$RESTART: want 0 or 1"
for p in "$NATS_PORT" "$S3_PORT" "$HTTP_PORT"; do
  if ! [[ $p =~ ^[0-9]+$ ]] || ((10#$p < 1 || 10#$p > 65535)); then die "port $p: want a number from 1 to 65535"; fi
done
[[ $NATS_PORT != "$S3_PORT" ]] || die "NATS and S3 cannot share port $NATS_PORT"
[[ $HTTP_PORT != "$NATS_PORT" && $HTTP_PORT != "$S3_PORT" ]] || die "the dashboard cannot share port $HTTP_PORT with NATS or S3"

# accepting PORT: something on this host accepts TCP connections on PORT.
accepting() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

mkdir -p "$STATE"/{nats,s3,logs,coordinator}
chmod 700 "$STATE" # it may predate the umask

# secret FILE BYTES: a random hex string, made once into FILE and the same on every later start, so that data the
# servers keep (JetStream streams, S3 objects) stays reachable.
secret() {
  if [[ ! -s $1 ]]; then
    od -An -tx1 -N"$2" /dev/urandom | tr -d ' \n' >"$1.tmp"
    mv -f "$1.tmp" "$1"
  fi
  cat "$1"
}
nats_password=$(secret "$STATE/nats-password" 24)
s3_access_key=$(secret "$STATE/s3-access-key" 10)
s3_secret_key=$(secret "$STATE/s3-secret-key" 20)

# The client settings. A config file someone wrote by hand is never overwritten: the settings go next to the state
# dir instead, for FACEFLEET_CONFIG to point at.
written_by_us() {
  local line
  IFS= read -r line <"$1" && [[ $line == "$MARKER" ]]
}
config=$CONFIG
if [[ -e $CONFIG ]] && ! written_by_us "$CONFIG"; then config=$STATE.yaml; fi
mkdir -p "$(dirname "$config")"
cat >"$config.tmp" <<EOF
$MARKER
# The local cluster in $STATE; rewritten on every start.
nats: "nats://$HOST:$NATS_PORT"
nats-user: "$NATS_USER"
nats-password: "$nats_password"
s3-endpoint: "$HOST:$S3_PORT"
s3-bucket: "$BUCKET"
s3-access-key: "$s3_access_key"
s3-secret-key: "$s3_secret_key"
s3-create-bucket: true
EOF
chmod 600 "$config.tmp"
mv -f "$config.tmp" "$config"
if [[ $config == "$CONFIG" ]]; then
  say "client settings written to $config"
else
  say "$CONFIG was not written by make cluster, so it is left alone; the client settings are in $config"
fi

[[ ${1:-} != config ]] || exit 0

for b in "$CACHE/bin/nats-server" "$CACHE/bin/versitygw"; do
  [[ -x $b ]] || die "$b is missing: run make setup"
done
for b in bin/coordinator bin/worker; do
  [[ -x $b ]] || die "$b is missing: run make build"
done
if accepting "$NATS_PORT"; then die "port $NATS_PORT on $HOST is taken (set CLUSTER_NATS_PORT to use another)"; fi
if accepting "$S3_PORT"; then die "port $S3_PORT on $HOST is taken (set CLUSTER_S3_PORT to use another)"; fi
if accepting "$HTTP_PORT"; then die "port $HTTP_PORT on $HOST is taken (set CLUSTER_HTTP_PORT to use another)"; fi

# The password lives in this file rather than on the command line, where every user's ps would show it.
cat >"$STATE/nats.conf" <<EOF
$MARKER
# Rewritten on every start.
listen: "$HOST:$NATS_PORT"
server_name: facefleet-local
jetstream {
  store_dir: "$STATE/nats"
}
authorization {
  user: "$NATS_USER"
  password: "$nats_password"
}
EOF

declare -A name_of=() log_of=() pid_of=() delay_of=() since_of=()

# start NAME CMD...: runs CMD with its output in STATE/logs/NAME.log, in a session of its own so that Ctrl-C reaches
# only this script, which then stops the processes in order.
start() {
  local name=$1 log=$STATE/logs/$1.log
  shift
  if [[ -e $log ]]; then mv -f "$log" "$log.1"; fi # keep the last run's log: it may tell why it died
  setsid "$@" >"$log" 2>&1 </dev/null &
  name_of[$!]=$name
  log_of[$!]=$log
  pid_of[$name]=$!
  since_of[$name]=$SECONDS
  say "started $name: pid $!, log $log"
}

# launch NAME: starts the process called NAME, the same way at first and on every restart.
launch() {
  case $1 in
  nats-server) start nats-server "$CACHE/bin/nats-server" --config "$STATE/nats.conf" ;;
  versitygw)
    # Credentials in the environment, not on the command line, for the same reason as nats.conf.
    ROOT_ACCESS_KEY_ID=$s3_access_key ROOT_SECRET_ACCESS_KEY=$s3_secret_key \
      start versitygw "$CACHE/bin/versitygw" --port "$HOST:$S3_PORT" --quiet posix "$STATE/s3"
    ;;
  coordinator) start coordinator "${daemon[@]}" bin/coordinator serve --config "$config" --work-dir "$STATE/coordinator" --http-addr "$HOST:$HTTP_PORT" ;;
  worker-*)
    local n=${1#worker-}
    mkdir -p "$STATE/worker-$n"
    start "worker-$n" "${daemon[@]}" bin/worker --config "$config" --id "local-$n" --work-dir "$STATE/worker-$n"
    ;;
  esac
}

# pids NAME...: the live pids of those processes.
pids() {
  local name
  for name in "$@"; do
    if [[ -n ${pid_of[$name]:-} ]]; then printf '%s\n' "${pid_of[$name]}"; fi
  done
}

# stop PID...: SIGTERM, then wait until each has exited, however long a drain takes (a second Ctrl-C kills).
stop() {
  local pid
  local -a live=() names=()
  for pid in "$@"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      live+=("$pid")
      names+=("${name_of[$pid]}")
    fi
  done
  ((${#live[@]})) || return 0
  say "stopping ${names[*]}"
  kill -TERM "${live[@]}" 2>/dev/null || true
  for pid in "${live[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do wait "$pid" 2>/dev/null || true; done
  done
}

workers=()
for ((n = 1; n <= WORKERS; n++)); do workers+=("worker-$n"); done

stop_all() {
  stop $(pids "${workers[@]}") # first: they drain, committing their segments through NATS and S3
  stop $(pids coordinator)
  stop $(pids versitygw nats-server) # last: everything above needs them to stop cleanly
}

kill_all() {
  local pid
  for pid in "${!name_of[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

on_signal() {
  trap kill_all INT TERM HUP
  echo
  say "stopping (Ctrl-C again kills)"
  stop_all
  say "stopped"
  exit 0
}

# crashed PID STATUS: a process failed while the cluster was starting; show why, stop the rest, fail.
crashed() {
  local pid=$1 status=$2
  printf 'cluster: %s (pid %s) exited with status %s; the end of %s:\n' \
    "${name_of[$pid]}" "$pid" "$status" "${log_of[$pid]}" >&2
  tail -n 20 "${log_of[$pid]}" | sed 's/^/    /' >&2
  unset "pid_of[${name_of[$pid]}]" "name_of[$pid]"
  trap kill_all INT TERM HUP
  stop_all
  exit 1
}

# died PID STATUS: a process of the running cluster exited on its own. One line says so; the others keep running,
# and it starts again after its backoff (unless CLUSTER_RESTART=0), as a supervisor would.
died() {
  local pid=$1 status=$2 name=${name_of[$1]} delay
  unset "pid_of[$name]" "name_of[$pid]"
  delay=${delay_of[$name]:-1}
  if ((SECONDS - ${since_of[$name]} >= 60)); then delay=1; fi # it had been running well: a fresh fault
  if [[ $RESTART == 0 ]]; then
    say "$name (pid $pid) exited with status $status; the others keep running (log ${log_of[$pid]})" >&2
    return
  fi
  say "$name (pid $pid) exited with status $status; restarting it in ${delay}s (log ${log_of[$pid]}.1)" >&2
  delay_of[$name]=$((delay * 2 > 30 ? 30 : delay * 2))
  # In the background so that a signal is handled at once; the others are still supervised meanwhile.
  sleep "$delay" &
  wait $! || true
  launch "$name"
}

# wait_port PID PORT: until PID's server accepts connections on PORT.
wait_port() {
  local i status=0
  for ((i = 0; i < 300; i++)); do
    if accepting "$2"; then return 0; fi
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1" || status=$?
      crashed "$1" "$status"
    fi
    sleep 0.1
  done
  say "${name_of[$1]} does not accept connections on port $2 after 30s" >&2
  kill -TERM "$1" 2>/dev/null || true
  crashed "$1" timeout
}

trap on_signal INT TERM HUP
trap stop_all EXIT # an error under set -e must not leave servers running either

# Environment variables beat the config file; these must not point the cluster's own daemons elsewhere.
daemon=(env)
for key in nats nats-user nats-password s3-endpoint s3-bucket s3-access-key s3-secret-key s3-create-bucket; do
  var=${key^^}
  daemon+=(-u "FACEFLEET_${var//-/_}")
done

launch nats-server
launch versitygw
wait_port "${pid_of[nats-server]}" "$NATS_PORT"
wait_port "${pid_of[versitygw]}" "$S3_PORT"
launch coordinator
for name in "${workers[@]}"; do launch "$name"; done

if [[ $config != "$CONFIG" ]]; then
  say "for client commands in another shell:"
  printf 'export FACEFLEET_CONFIG=%q\n' "$config"
fi
say "dashboard: http://$HOST:$HTTP_PORT/ (status API under /api/v1/)"
echo "cluster ready: bin/coordinator submit -s face.jpg -t video.mp4 -o out.mp4"

while :; do
  if ((${#name_of[@]} == 0)); then
    say "every process has exited" >&2
    exit 1
  fi
  # Polled, not `wait -n`: a process that dies while this shell runs another command is reaped and reported by
  # bash then ("Killed"), and a later `wait -n` never returns it (TestClusterScript hung on that once in a while).
  # `wait PID` still gives the remembered status of a child already reaped.
  for pid in "${!name_of[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0
      wait "$pid" 2>/dev/null || status=$?
      died "$pid" "$status"
    fi
  done
  sleep 0.5 &
  wait $! || true
done
