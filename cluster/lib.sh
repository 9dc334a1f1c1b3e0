# Shared by the cluster/ scripts: paths, installing packages, ports, processes, the state file.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/cluster/state"
STATE_FILE="$STATE/cluster.json"
BUILD_PATH="${FLASHSALE_BUILD_PATH:-$ROOT/.build}"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing (apt-get update once, only when needed).
ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_release() {
  say "building flashsale (release; the first build takes several minutes)"
  (cd "$ROOT" && swift build -c release --product flashsale --scratch-path "$BUILD_PATH" 2>&1 | tail -n 3)
  FLASHSALE_BINARY="$(cd "$ROOT" && swift build -c release --scratch-path "$BUILD_PATH" --show-bin-path)/flashsale"
  [ -x "$FLASHSALE_BINARY" ] || die "the build did not produce $FLASHSALE_BINARY"
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets PORT to the first free port at or above PORT_CURSOR and moves the cursor past it.
# (A variable, not printed output: a $(...) subshell would forget which ports it handed out.)
allocate_port() {
  while ! port_is_free "$PORT_CURSOR"; do PORT_CURSOR=$((PORT_CURSOR + 1)); done
  PORT="$PORT_CURSOR"
  PORT_CURSOR=$((PORT_CURSOR + 1))
}

# True while process $1 runs. A killed process whose parent never reaps it stays a zombie
# that `kill -0` still finds, so the state in /proc decides.
is_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)"
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Waits up to $2 seconds for $1 (a URL) to answer 200.
wait_http_ok() {
  local url="$1" seconds="$2" waited=0
  until curl -sf -o /dev/null "$url"; do
    sleep 0.2
    waited=$((waited + 1))
    [ "$waited" -ge $((seconds * 5)) ] && return 1
  done
}

# Stops a process by PID: SIGTERM, then SIGKILL after $2 seconds.
stop_pid() {
  local pid="$1" seconds="${2:-10}" waited=0
  is_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while is_alive "$pid"; do
    sleep 0.1
    waited=$((waited + 1))
    if [ "$waited" -ge $((seconds * 10)) ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
  done
}

postgres_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] || die "PostgreSQL is not installed"
  printf '%s' "$dir"
}

# Runs a PostgreSQL tool as the postgres user when we are root (PostgreSQL refuses to run as root).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

node_field() { jq -r --arg id "$1" ".nodes[] | select(.id == \$id) | .$2" "$STATE_FILE"; }

require_state() { [ -f "$STATE_FILE" ] || die "no cluster is running here (cluster/up starts one)"; }

# Starts coordinator $1 from its recorded command line and records its PID.
start_node() {
  local id="$1" args_file="$STATE/nodes/$1.args"
  [ -f "$args_file" ] || die "unknown node $id"
  local -a args
  mapfile -t args <"$args_file"
  nohup "${args[@]}" >>"$STATE/logs/$id.log" 2>&1 &
  local pid=$!
  printf '%s' "$pid" >"$STATE/nodes/$id.pid"
  local tmp
  tmp="$(mktemp)"
  jq --arg id "$id" --argjson pid "$pid" '(.nodes[] | select(.id == $id) | .pid) = $pid' "$STATE_FILE" >"$tmp"
  mv "$tmp" "$STATE_FILE"
}

wait_node_ready() {
  local id="$1" url
  url="$(node_field "$id" clientUrl)"
  if ! wait_http_ok "$url/readyz" "${2:-60}"; then
    say "node $id did not become ready; the end of its log:"
    tail -n 20 "$STATE/logs/$id.log" >&2 || true
    return 1
  fi
}
