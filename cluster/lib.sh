# Shared by the cluster/ scripts (sourced, never run): paths, packages, the build, ports,
# processes by recorded PID, TLS material and the state file.
# shellcheck shell=bash disable=SC2034  # (variables set here are read by the scripts)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/cluster/state"
STATE_FILE="$STATE/cluster.json"
PIDS="$STATE/pids"
BUILD_PATH="${FLASHSALE_BUILD_PATH:-$ROOT/.build}"

# The Debian packages each command needs. pkgconf gives SwiftPM libpq's include folder.
BUILD_PACKAGES=(libhiredis-dev libpq-dev libssl-dev pkgconf)
SERVER_PACKAGES=(redis-server postgresql)
TOOL_PACKAGES=(openssl curl jq)
# The status page's browser test renders it in headless Chromium; the sale-window test runs nodes under faketime.
TEST_PACKAGES=(chromium-headless-shell faketime)

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints the comment block after the shebang (lines starting with "# ") as usage text.
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; }

# ---------------------------------------------------------------------------------------------
# Packages and the build

# Installs the Debian packages that are not installed yet; `apt-get update` runs once per script
# and only when something is missing.
APT_UPDATED=false
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" = "install ok installed" ] \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages ${missing[*]}: run as root or install sudo"
    sudo=(sudo)
  fi
  say "installing ${missing[*]} (apt)"
  if ! $APT_UPDATED; then
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=true
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
}

require_swift() {
  command -v swift >/dev/null || die "swift is not on PATH (install a Swift 6 toolchain first)"
}

# Sets PROMTOOL: promtool from the PATH, or else taken out of Debian's prometheus package into
# $BUILD_PATH/tools without installing it (installing would start a Prometheus service).
ensure_promtool() {
  PROMTOOL="$(command -v promtool || true)"
  [ -n "$PROMTOOL" ] && return 0
  local tools="$BUILD_PATH/tools"
  PROMTOOL="$tools/usr/bin/promtool"
  [ -x "$PROMTOOL" ] && return 0
  local download
  download="$(mktemp -d)"
  (cd "$download" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; }) \
    || die "could not download Debian's prometheus package for promtool"
  mkdir -p "$tools"
  dpkg-deb -x "$download"/prometheus_*.deb "$tools"
  rm -rf "$download"
  [ -x "$PROMTOOL" ] || die "promtool is not in Debian's prometheus package"
}

# Builds the release binary into $BUILD_PATH (FLASHSALE_BUILD_PATH) and sets FLASHSALE_BINARY.
build_release() {
  require_swift
  say "building flashsale (release, $BUILD_PATH; the first build takes several minutes)"
  local log status=0 started=$SECONDS
  log="$(mktemp /tmp/flashsale-build.XXXXXX)"
  (cd "$ROOT" && swift build -c release --product flashsale --scratch-path "$BUILD_PATH") >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    grep -E 'error:' "$log" | head -n 20 >&2 || true
    say "--- the end of the build output:" >&2
    tail -n 25 "$log" >&2
    rm -f "$log"
    die "the build failed (exit $status)"
  fi
  rm -f "$log"
  FLASHSALE_BINARY="$(cd "$ROOT" && swift build -c release --scratch-path "$BUILD_PATH" --show-bin-path)/flashsale"
  [ -x "$FLASHSALE_BINARY" ] || die "the build did not produce $FLASHSALE_BINARY"
  say "built $FLASHSALE_BINARY in $((SECONDS - started)) s"
}

# One number from the RESULT line that cluster/bench-reserve.lua prints: wrk_result_field NAME LINE.
wrk_result_field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$2"; }

# Clock ticks of user + system time of the given PIDs and all their descendants, including
# children they have reaped (PostgreSQL's backends come and go): the benchmarks' CPU measure.
tree_cpu_ticks() {
  for stat in /proc/[0-9]*/stat; do sed 's/^\([0-9]*\) (.*) /\1 /' "$stat" 2>/dev/null || true; done | awk -v roots="$*" '
    BEGIN { n = split(roots, list, " "); for (i = 1; i <= n; i++) inside[list[i]] = 1 }
    { parent[$1] = $3; ticks[$1] = $13 + $14 + $15 + $16 }
    END {
      for (pid in ticks) {
        for (p = pid; p != "" && p != 0 && !(p in inside); p = parent[p]) {}
        if (p in inside) total += ticks[pid]
      }
      print total + 0
    }'
}

# The PIDs of the cluster's processes whose pid files match $1 (default: all).
cluster_pids() { for file in "$PIDS"/${1:-*}.pid; do read -r pid _ <"$file" && printf '%s ' "$pid"; done; }

# Loads the product's reserve script as the node loads it (the clock, the prelude, reserve.lua)
# into the Redis on port $1; prints its SHA.
load_reserve_script() {
  local scripts="$ROOT/Sources/FlashSaleRedis/Scripts"
  redis-cli -p "$1" SCRIPT LOAD "$(cat "$scripts/redis_time.lua" "$scripts/prelude.lua" "$scripts/reserve.lua")"
}

# redis-benchmark EVALSHA of the reserve script, every call with a new user, requestId and
# reservation id, so each one is a real reservation: reserve_benchmark PORT SHA SKU CLIENTS
# REQUESTS PIPELINE EPOCH (the caller's membership epoch, the script's last argument). Prints
# redis-benchmark's report; benchmark_rate reads its requests/s from it.
reserve_benchmark() {
  redis-benchmark -p "$1" -c "$4" -n "$5" -P "$6" -r 2000000000 \
    EVALSHA "$2" 0 "$3" user__rand_int__ 1 req__rand_int__ r__rand_int__ "$7" 2>&1
}
benchmark_rate() { grep -oE 'throughput summary: [0-9.]+' <<<"$1" | tail -1 | awk '{print int($3)}'; }

# ---------------------------------------------------------------------------------------------
# Standalone nodes for the benchmarks

# A free TCP port on 127.0.0.1, chosen by the kernel.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets SETTINGS_ENVIRONMENT to FLASHSALE_* assignments for node settings given as KEY=VALUE, with
# swift-configuration's names (camelCase words split by _, upper case, dots as _):
# admission.inFlightMax=0 -> FLASHSALE_ADMISSION_IN_FLIGHT_MAX=0.
settings_environment() {
  SETTINGS_ENVIRONMENT=()
  local setting key
  for setting in "$@"; do
    key="${setting%%=*}"
    SETTINGS_ENVIRONMENT+=("FLASHSALE_$(sed -E 's/([a-z])([A-Z])/\1_\2/g' <<<"$key" | tr '[:lower:].' '[:upper:]_')=${setting#*=}")
  done
}

# start_bench_node NAME BINARY FOLDER TOKEN [VARIABLE=VALUE ...]: a Redis of its own (append-only,
# appendfsync always) and a standalone node of BINARY on it, without PostgreSQL, with the given
# environment; waits until the node is ready. Adds both PIDs to the caller's `pids` array (the
# caller stops them) and sets NODE_HTTP_PORT, NODE_PID, NODE_REDIS_PORT, NODE_REDIS_PID.
start_bench_node() {
  local name="$1" binary="$2" folder="$3" token="$4"
  shift 4
  mkdir -p "$folder"
  NODE_REDIS_PORT="$(free_port)" NODE_HTTP_PORT="$(free_port)"
  redis-server --bind 127.0.0.1 --port "$NODE_REDIS_PORT" --dir "$folder" --appendonly yes --appendfsync "${BENCH_APPENDFSYNC:-always}" \
    --save "" --daemonize no --logfile "$folder/redis.log" --maxclients 20000 &
  NODE_REDIS_PID=$!
  pids+=("$NODE_REDIS_PID")
  env "$@" FLASHSALE_ADMIN_TOKEN="$token" "$binary" node --id "$name" --http-port "$NODE_HTTP_PORT" \
    --redis-url "redis://127.0.0.1:$NODE_REDIS_PORT" --log-level warning 2>"$folder/node.log" &
  NODE_PID=$!
  pids+=("$NODE_PID")
  local _
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$NODE_HTTP_PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$folder/node.log" >&2
  die "node $name did not become ready"
}

# CPU time process $1 has used so far, in clock ticks (user + system, from /proc).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---------------------------------------------------------------------------------------------
# Ports

# True when nothing accepts connections on 127.0.0.1:$1.
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets PORT to the first free port at or above PORT_CURSOR and moves the cursor past it.
# (A variable, not printed output: a $(...) subshell would forget which ports it handed out.)
allocate_port() {
  while ! port_is_free "$PORT_CURSOR"; do
    PORT_CURSOR=$((PORT_CURSOR + 1))
    [ "$PORT_CURSOR" -le 65535 ] || die "no free port left below 65536 (FLASHSALE_PORT_BASE)"
  done
  PORT="$PORT_CURSOR"
  PORT_CURSOR=$((PORT_CURSOR + 1))
}

# ---------------------------------------------------------------------------------------------
# Processes. A PID file holds "PID STARTTIME" (the start time from /proc/PID/stat, field 22), so a
# recycled PID is never mistaken for the process we started; we signal only what we started.

process_start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }

# True while process $1 runs. A killed process whose parent has not reaped it yet is a zombie
# that `kill -0` still finds, so the state in /proc decides.
is_alive() {
  [ -n "${1:-}" ] && [ "$1" -gt 0 ] 2>/dev/null && kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $1}')"
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

record_pid() { printf '%s %s\n' "$2" "$(process_start_time "$2")" >"$1"; }

# Prints the PID recorded in file $1 and succeeds when that very process still runs.
live_pid() {
  local pid="" start=""
  [ -f "$1" ] || return 1
  read -r pid start <"$1" || true
  is_alive "$pid" || return 1
  [ -z "$start" ] || [ "$(process_start_time "$pid")" = "$start" ] || return 1
  printf '%s' "$pid"
}

# Starts a long-running process in its own session (no terminal hangup or Ctrl-C reaches it),
# stdin from /dev/null, stdout and stderr appended to $2, and records its PID in $1.
start_daemon() {
  local pid_file="$1" log="$2" waited=0 pid=""
  shift 2
  rm -f "$pid_file.new"
  # The inner shell writes its own PID, then execs the command, which keeps that PID.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pid_file.new" "$@" </dev/null >>"$log" 2>&1 &
  until [ -s "$pid_file.new" ] && read -r pid <"$pid_file.new" && [ -n "$pid" ]; do
    sleep 0.05
    waited=$((waited + 1))
    [ "$waited" -lt 100 ] || die "could not start $1"
  done
  rm -f "$pid_file.new"
  record_pid "$pid_file" "$pid"
  DAEMON_PID="$pid"
}

# Stops processes by PID: SIGTERM to all, SIGKILL to those still running after $1 seconds.
# Fails (with a warning) if any survives SIGKILL for 5 more seconds.
stop_pids() {
  local seconds="$1" pid tick=0 killed=false alive=()
  shift
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  while :; do
    alive=()
    for pid in "$@"; do if is_alive "$pid"; then alive+=("$pid"); fi; done
    [ ${#alive[@]} -gt 0 ] || return 0
    if [ "$tick" -ge $((seconds * 10)) ]; then
      if $killed; then
        warn "pid ${alive[*]} still running after SIGKILL"
        return 1
      fi
      warn "still running after ${seconds} s, sending SIGKILL to ${alive[*]}"
      for pid in "${alive[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
      killed=true tick=0 seconds=5
    fi
    sleep 0.1
    tick=$((tick + 1))
  done
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL (runs as the postgres user when we are root: it refuses to run as root)

postgres_bin() {
  local dirs=(/usr/lib/postgresql/*/bin) dir
  dir="$(printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1)"
  [ -d "$dir" ] || die "PostgreSQL is not installed (/usr/lib/postgresql/*/bin)"
  printf '%s' "$dir"
}

# Runs from / so that a working folder the postgres user cannot read (/root) does not matter.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# ---------------------------------------------------------------------------------------------
# TLS: one cluster CA, one certificate per node naming it (CN, URI SAN, IP SAN), EC P-256 keys.

make_cluster_ca() {
  local tls="$1"
  mkdir -p "$tls" && chmod 700 "$tls"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/ca-key.pem" 2>/dev/null
  openssl req -new -key "$tls/ca-key.pem" -subj "/CN=flashsale cluster CA" -out "$tls/ca.csr"
  printf '%s\n' 'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' \
    'subjectKeyIdentifier=hash' >"$tls/ca.ext"
  sign_certificate "$tls" "$tls/ca.csr" "$tls/ca.ext" "$tls/ca.pem" -selfsign
  rm -f "$tls/ca.csr" "$tls/ca.ext"
  chmod 600 "$tls/ca-key.pem"
}

# Signs a request with the cluster CA (or itself: -selfsign), valid from a day ago for a year: a
# node whose clock runs behind (up to a day) still accepts its peers' certificates. openssl ca,
# as openssl x509 before 3.4 cannot set the start date.
sign_certificate() {
  local tls="$1" request="$2" extensions="$3" out="$4"
  shift 4
  local work
  work="$(mktemp -d "$tls/.ca.XXXXXX")"
  : >"$work/index.txt"
  printf '%s\n' '[ca]' 'default_ca = cluster' '[cluster]' "database = $work/index.txt" \
    "new_certs_dir = $work" "serial = $work/serial" 'default_md = sha256' 'policy = any' 'unique_subject = no' \
    '[any]' 'commonName = supplied' >"$work/ca.cnf"
  openssl ca -batch -notext -config "$work/ca.cnf" -in "$request" -cert "$tls/ca.pem" -keyfile "$tls/ca-key.pem" \
    -rand_serial -startdate "$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '365 days' +%Y%m%d%H%M%SZ)" \
    -extfile "$extensions" -out "$out" "$@" 2>"$work/errors" || { cat "$work/errors" >&2; rm -rf "$work"; die "openssl ca could not sign $out"; }
  rm -rf "$work"
}

make_node_cert() {
  local tls="$1" id="$2"
  [ -f "$tls/ca.pem" ] && [ -f "$tls/ca-key.pem" ] || die "no cluster CA in $tls"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/$id-key.pem" 2>/dev/null
  openssl req -new -key "$tls/$id-key.pem" -subj "/CN=$id" -out "$tls/$id.csr"
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyAgreement' \
    'extendedKeyUsage=serverAuth,clientAuth' "subjectAltName=URI:flashsale://node/$id,IP:127.0.0.1" \
    'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' >"$tls/$id.ext"
  sign_certificate "$tls" "$tls/$id.csr" "$tls/$id.ext" "$tls/$id.pem"
  rm -f "$tls/$id.csr" "$tls/$id.ext"
  chmod 600 "$tls/$id-key.pem"
  openssl verify -CAfile "$tls/ca.pem" "$tls/$id.pem" >/dev/null || die "the certificate of $id does not verify"
}

# ---------------------------------------------------------------------------------------------
# The state file and the coordinators

require_state() {
  [ -f "$STATE_FILE" ] || die "no cluster is running here ($STATE_FILE is missing; cluster/up starts one)"
}

node_field() { jq -r --arg id "$1" --arg field "$2" '.nodes[] | select(.id == $id) | .[$field]' "$STATE_FILE"; }

require_node() {
  [ -n "$(node_field "$1" id)" ] || die "unknown node '$1' (nodes: $(jq -r '[.nodes[].id] | join(", ")' "$STATE_FILE"))"
  [ -f "$STATE/nodes/$1.args" ] || die "no recorded command for node $1 ($STATE/nodes/$1.args)"
}

# Rewrites the state file with jq filter $1 (further jq arguments follow), atomically and under
# a lock so that concurrent cluster/start runs do not lose each other's updates.
update_state() {
  local filter="$1"
  shift
  {
    flock 9
    jq "$@" "$filter" "$STATE_FILE" >"$STATE_FILE.tmp"
    chmod 600 "$STATE_FILE.tmp"
    mv "$STATE_FILE.tmp" "$STATE_FILE"
  } 9>"$STATE/.lock"
}

# Starts coordinator $1 from its recorded command line (nodes/ID.args, one argument a line) and
# environment (nodes/ID.env, NAME=VALUE lines). Every FLASHSALE_* variable of the caller is
# removed first, so the node runs the same however and wherever start is invoked.
start_node() {
  local id="$1" args=() environment=() unset=() name
  mapfile -t args <"$STATE/nodes/$id.args"
  [ -f "$STATE/nodes/$id.env" ] && mapfile -t environment <"$STATE/nodes/$id.env"
  for name in $(compgen -e); do
    case "$name" in FLASHSALE_*) unset+=(-u "$name") ;; esac
  done
  mkdir -p "$PIDS" "$STATE/logs"
  printf '\n=== %s starting %s\n' "$(date -u +%FT%TZ)" "$id" >>"$STATE/logs/$id.log"
  start_daemon "$PIDS/$id.pid" "$STATE/logs/$id.log" env "${unset[@]}" "${environment[@]}" "${args[@]}"
  NODE_PID="$DAEMON_PID"
}

# Status code of GET $1, 000 when nothing answers.
http_status() { curl -s -o /dev/null --connect-timeout 1 --max-time 2 -w '%{http_code}' "$1" 2>/dev/null || true; }

# Waits until every node given as "ID URL" pairs answers 200 on /readyz, at most $1 seconds in all.
# Stops early (with the end of its log) when a node's process exits.
wait_nodes_ready() {
  local seconds="$1" deadline=$((SECONDS + $1)) started=$SECONDS
  shift
  local -a pending=("$@")
  while [ ${#pending[@]} -gt 0 ]; do
    local -a still=()
    local entry id url
    for entry in "${pending[@]}"; do
      id="${entry%% *}"
      url="${entry#* }"
      if [ "$(http_status "$url/readyz")" = 200 ]; then
        say "node $id ready at $url ($((SECONDS - started)) s)"
      elif ! live_pid "$PIDS/$id.pid" >/dev/null; then
        say "node $id exited before it was ready; the end of $STATE/logs/$id.log:" >&2
        tail -n 25 "$STATE/logs/$id.log" >&2 || true
        return 1
      else
        still+=("$entry")
      fi
    done
    pending=("${still[@]}")
    [ ${#pending[@]} -eq 0 ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      for entry in "${pending[@]}"; do
        id="${entry%% *}"
        say "node $id not ready after ${seconds} s (/readyz: $(http_status "${entry#* }/readyz")); the end of $STATE/logs/$id.log:" >&2
        tail -n 25 "$STATE/logs/$id.log" >&2 || true
      done
      return 1
    fi
    sleep 0.25
  done
}

# Waits until every node URL given reports the same membership epoch in /v1/cluster, with $2
# active nodes and no change in progress: each node has then read the membership that the others
# joined (each join is a change: joining, then settled), so all of them route every SKU to the same owner.
wait_cluster_agrees() {
  local seconds="$1" expected="$2" deadline=$(($SECONDS + $1)) url views
  shift 2
  while :; do
    views="$(for url in "$@"; do
      curl -s --max-time 2 "$url/v1/cluster" \
        | jq -r '"\(.epoch) \([.nodes[] | select(.state == "active")] | length) \(.rebalancing)"' 2>/dev/null || echo "none"
    done | sort -u)"
    if [ "$(wc -l <<<"$views")" -eq 1 ] && [ "${views#* }" = "$expected false" ]; then
      say "every node is at membership epoch ${views%% *} with $expected active node(s)"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "the nodes do not agree on a settled membership after $seconds s (epoch, active nodes, rebalancing): $(tr '\n' ';' <<<"$views")" >&2
      return 1
    fi
    sleep 0.25
  done
}

# The URLs of the nodes in cluster.json whose process runs, one a line.
running_node_urls() {
  local id
  for id in $(jq -r '.nodes[].id' "$STATE_FILE"); do
    live_pid "$PIDS/$id.pid" >/dev/null && node_field "$id" clientUrl
  done
  return 0
}

# Runs `flashsale admin SUBCOMMAND` against the first running node with the cluster's admin token.
admin() {
  local binary url
  binary="$(head -n 1 "$STATE/nodes/$(jq -r '.nodes[0].id' "$STATE_FILE").args")"
  url="${ADMIN_URL:-$(running_node_urls | sed -n 1p)}"
  [ -n "$url" ] || die "no node of the cluster is running"
  "$binary" admin "$@" --url "$url" --admin-token-file "$STATE/admin-token"
}

# Starts Redis server NAME (redis-ID, or redis-ID-replica for its replica) of a shard on port $2
# (appendonly, fsync policy $3), in state/NAME; with a port $4, as a replica of the server there.
start_shard_server() {
  local name="$1" port="$2" appendfsync="$3" primary_port="${4:-}" follow=()
  replicated_shard_options
  [ -z "$primary_port" ] || follow=(--replicaof 127.0.0.1 "$primary_port")
  mkdir -p "$STATE/$name"
  start_daemon "$PIDS/$name.pid" "$STATE/logs/$name.log" \
    redis-server --bind 127.0.0.1 --port "$port" --dir "$STATE/$name" \
    --appendonly yes --appendfsync "$appendfsync" --save "" --daemonize no "${follow[@]}" "${REPLICATED_SHARD[@]}"
}

# Starts the Redis shard of node $1 on port $2 (appendonly, fsync policy $3), in state/redis-ID.
start_redis() {
  say "starting Redis shard redis-$1 on 127.0.0.1:$2 (appendonly, appendfsync $3)"
  start_shard_server "redis-$1" "$2" "$3"
}

# How many replicas each shard has (cluster/up's FLASHSALE_REDIS_REPLICAS: 0 or 1): a node
# acknowledges a write only once they have it.
shard_replicas() { cat "$STATE/replicas" 2>/dev/null || echo 0; }

# With a replica, every server of a shard refuses writes while it has no replica at most 2 s
# behind (so an old primary that wakes after a promotion takes none), and sends a replica that
# connects the data at once (Redis waits 5 s by default, to batch replicas).
REPLICATED_SHARD=()
replicated_shard_options() {
  REPLICATED_SHARD=()
  [ "$(shard_replicas)" = 1 ] && REPLICATED_SHARD=(--min-replicas-to-write 1 --min-replicas-max-lag 2 --repl-diskless-sync-delay 0)
  return 0
}

# Starts the replica of node $1's shard on port $2, replicating the primary on port $3 (fsync
# policy $4), in state/redis-ID-replica; its port is kept in state/redis-ID-replica.port.
# On one machine it is another process; in production, another host (Docs/OPERATIONS.md).
start_redis_replica() {
  printf '%s\n' "$2" >"$STATE/redis-$1-replica.port"
  say "starting the replica of redis-$1 on 127.0.0.1:$2 (replica of 127.0.0.1:$3)"
  start_shard_server "redis-$1-replica" "$2" "$4" "$3"
}

# Starts PostgreSQL on data folder $1 (log $2) listening on 127.0.0.1:$3, its Unix socket in $4
# (empty: none), and records its PID.
start_postgres() {
  as_postgres "$(postgres_bin)/pg_ctl" start -D "$1" -l "$2" -w -t 60 \
    -o "-p $3 -c listen_addresses=127.0.0.1 -c unix_socket_directories='$4'" >/dev/null \
    || { tail -n 20 "$2" >&2 || true; die "PostgreSQL did not start"; }
  record_pid "$PIDS/postgres.pid" "$(head -n 1 "$1/postmaster.pid")"
}

# Writes node $1's command line (one argument a line) for start_node: binary $2, HTTP port $3,
# peer port $4, Redis port $5, PostgreSQL URL $6. With PEER_SOURCE_NET set (cluster/chaos sets
# 127.0.1), node nK's outgoing peer connections come from PEER_SOURCE_NET.K, so that routing rules
# can cut one node's peer traffic on a machine where every node is on 127.0.0.1.
write_node_args() {
  local source=() replica=()
  [ ! -f "$STATE/redis-$1-replica.port" ] || replica=(--redis-replica-url "redis://127.0.0.1:$(cat "$STATE/redis-$1-replica.port")")
  if [ -n "${PEER_SOURCE_NET:-}" ] && [[ "$1" =~ ^n([0-9]+)$ ]]; then
    source=(--peer-source-host "$PEER_SOURCE_NET.${BASH_REMATCH[1]}")
  fi
  printf '%s\n' "$2" node --id "$1" --http-host 127.0.0.1 --http-port "$3" \
    --redis-url "redis://127.0.0.1:$5" --redis-replicas "$(shard_replicas)" "${replica[@]}" --postgres-url "$6" \
    --peer-address "127.0.0.1:$4" "${source[@]}" --admin-token-file "$STATE/admin-token" \
    --tls-directory "$STATE/tls" >"$STATE/nodes/$1.args"
}

# What the Redis on port $1 is: master, slave, or none (not answering), from ROLE.
redis_role() {
  local role
  role="$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'ROLE\r\n' >&3 && read -r -t 2 _ <&3 && read -r -t 2 _ <&3 \
    && read -r -t 2 line <&3 && printf '%s' "${line%$'\r'}") 2>/dev/null || true)"
  printf '%s\n' "${role:-none}"
}

# The two servers of node $1's shard as "NAME PORT" lines (NAME: redis-ID, redis-ID-replica).
shard_servers() {
  local url
  url="$(node_field "$1" redisUrl)"
  printf 'redis-%s %s\n' "$1" "${url##*:}"
  [ ! -f "$STATE/redis-$1-replica.port" ] || printf 'redis-%s-replica %s\n' "$1" "$(cat "$STATE/redis-$1-replica.port")"
}

# The server of node $1's shard that is its primary now ("NAME PORT"), and the other one on a
# second line: after a promotion the replica's process is the primary.
shard_primary_first() {
  local name port others=()
  while read -r name port; do
    if [ "$(redis_role "$port")" = master ]; then printf '%s %s\n' "$name" "$port"; else others+=("$name $port"); fi
  done < <(shard_servers "$1")
  [ ${#others[@]} -eq 0 ] || printf '%s\n' "${others[@]}"
}

# Starts server NAME (redis-ID or redis-ID-replica) of node $1's shard again on port $3: as a
# replica of the shard's other server when that one is a primary now (a server never comes back
# as a second primary, which its replica would copy), else as it was (fsync policy $4).
restart_shard_server() {
  local id="$1" name="$2" port="$3" appendfsync="$4" other_name other_port
  while read -r other_name other_port; do
    [ "$other_name" != "$name" ] || continue
    if [ "$(redis_role "$other_port")" = master ]; then
      say "starting $name on 127.0.0.1:$port as a replica of $other_name (127.0.0.1:$other_port)"
      start_shard_server "$name" "$port" "$appendfsync" "$other_port"
      return 0
    fi
  done < <(shard_servers "$id")
  say "starting $name on 127.0.0.1:$port on its data"
  start_shard_server "$name" "$port" "$appendfsync"
}

# Waits until Redis answers PONG on port $2 (shard of node $1), at most 10 s.
wait_redis() {
  local id="$1" port="$2" pong=""
  for _ in $(seq 1 100); do
    pong="$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 && read -r -t 2 line <&3 \
      && printf '%s' "${line%$'\r'}") 2>/dev/null || true)"
    [ "$pong" = "+PONG" ] && return 0
    live_pid "$PIDS/redis-$id.pid" >/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$STATE/logs/redis-$id.log" >&2 || true
  die "Redis shard redis-$id did not start on port $port"
}

# Every process recorded in pids/ that still runs, as "NAME PID" lines.
running_processes() {
  local file pid
  [ -d "$PIDS" ] || return 0
  for file in "$PIDS"/*.pid; do
    [ -e "$file" ] || continue
    pid="$(live_pid "$file")" && printf '%s %s\n' "$(basename "$file" .pid)" "$pid"
  done
  return 0
}

# Stops everything cluster/up started, by recorded PID: coordinators first (SIGTERM, they drain),
# then the Redis shards, then PostgreSQL (pg_ctl stop). Removes the PID files and cluster.json;
# keeps logs and data for reading.
stop_cluster() {
  local file name pid nodes=() shards=()
  if [ -d "$PIDS" ]; then
    for file in "$PIDS"/*.pid; do
      [ -e "$file" ] || continue
      name="$(basename "$file" .pid)"
      pid="$(live_pid "$file")" || { rm -f "$file"; continue; }
      case "$name" in
        postgres) ;;
        redis-*) shards+=("$pid") ;;
        *) nodes+=("$pid") ;;
      esac
    done
  fi
  if [ ${#nodes[@]} -gt 0 ]; then
    say "stopping ${#nodes[@]} coordinator(s) (SIGTERM, SIGKILL after ${FLASHSALE_STOP_SECONDS:-20} s)"
    stop_pids "${FLASHSALE_STOP_SECONDS:-20}" "${nodes[@]}" || true
  fi
  if [ ${#shards[@]} -gt 0 ]; then
    say "stopping ${#shards[@]} Redis shard(s)"
    stop_pids 15 "${shards[@]}" || true
  fi
  # The real path: state/postgres may link to a folder the postgres user reaches and we do not.
  local data
  data="$(readlink -f "$STATE/postgres")/data"
  if [ -f "$data/postmaster.pid" ] || live_pid "$PIDS/postgres.pid" >/dev/null; then
    say "stopping PostgreSQL"
    as_postgres "$(postgres_bin)/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1 \
      || { pid="$(live_pid "$PIDS/postgres.pid")" && stop_pids 10 "$pid"; } || true
  fi
  rm -rf "$PIDS"
  rm -f "$STATE_FILE" "$STATE/.lock"
}
