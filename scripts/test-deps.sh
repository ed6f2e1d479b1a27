#!/usr/bin/env bash
# Find or install what the tests need, before any test runs (`npm test` runs this as `pretest`;
# `.ci/run` runs it too):
#   redis-server (redis-server), redis-sentinel (redis-sentinel), redis-cli (redis-tools),
#   openssl (openssl: the TLS tests make their certificates), Alertmanager and amtool
#   (prometheus-alertmanager), promtool (prometheus).
# - All found: prints one line and exits 0 (in well under a second).
# - Some missing, and we are root or have passwordless sudo and apt-get: `apt-get update` once,
#   install them (noninteractive, no recommends), then stop the packaged daemons that install
#   started (redis-server, redis-sentinel, prometheus on :9090, prometheus-alertmanager on
#   :9093/:9094): the tests start their own servers on free ports.
# - Some missing and no way to install: prints ONE line naming the missing packages and the
#   command that installs them, and exits 1 at once.
# In every case a packaged Alertmanager daemon that is running is stopped when we may (root or
# passwordless sudo). `npm run demo` does not need any of this (only redis-server).
# Environment: ALERTMANAGER_BIN, AMTOOL_BIN, PROMTOOL_BIN name binaries outside PATH.
set -euo pipefail

log() { printf 'test-deps: %s\n' "$*" >&2; }

AM_DEFAULT_BIN=/usr/bin/prometheus-alertmanager
AM_PIDFILE=/run/prometheus/prometheus-alertmanager.pid
PROM_DEFAULT_BIN=/usr/bin/prometheus
PROM_PIDFILE=/run/prometheus/prometheus.pid

find_alertmanager() {
  if [[ -n "${ALERTMANAGER_BIN:-}" && -x "${ALERTMANAGER_BIN}" ]]; then echo "${ALERTMANAGER_BIN}"; return 0; fi
  command -v prometheus-alertmanager 2>/dev/null && return 0
  command -v alertmanager 2>/dev/null && return 0
  if [[ -x "${AM_DEFAULT_BIN}" ]]; then echo "${AM_DEFAULT_BIN}"; return 0; fi
  return 1
}

find_amtool() {
  if [[ -n "${AMTOOL_BIN:-}" && -x "${AMTOOL_BIN}" ]]; then echo "${AMTOOL_BIN}"; return 0; fi
  command -v amtool 2>/dev/null && return 0
  if [[ -x /usr/bin/amtool ]]; then echo /usr/bin/amtool; return 0; fi
  return 1
}

find_promtool() {
  if [[ -n "${PROMTOOL_BIN:-}" && -x "${PROMTOOL_BIN}" ]]; then echo "${PROMTOOL_BIN}"; return 0; fi
  command -v promtool 2>/dev/null && return 0
  if [[ -x /usr/bin/promtool ]]; then echo /usr/bin/promtool; return 0; fi
  return 1
}

# Debian package for each binary that is missing.
missing_packages() {
  local out=()
  command -v redis-server >/dev/null 2>&1 || out+=(redis-server)
  command -v redis-sentinel >/dev/null 2>&1 || out+=(redis-sentinel)
  command -v redis-cli >/dev/null 2>&1 || out+=(redis-tools)
  command -v openssl >/dev/null 2>&1 || out+=(openssl) # TLS test certificates
  { find_alertmanager >/dev/null && find_amtool >/dev/null; } || out+=(prometheus-alertmanager)
  find_promtool >/dev/null || out+=(prometheus)
  { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } || out+=(chromium) # the incident page test
  echo "${out[*]:-}"
}

# How we may run apt and stop services: "" (root), "sudo -n" (passwordless sudo), or "no".
privilege() {
  if [[ "$(id -u)" -eq 0 ]]; then echo ""; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo "sudo -n"; return; fi
  echo "no"
}

# A packaged daemon runs as user "prometheus" from its init script or unit (pidfile or pgrep).
packaged_pids() { # <binary> <pidfile>
  local bin=$1 pidfile=$2 pids=()
  if [[ -s "$pidfile" ]]; then pids+=("$(cat "$pidfile")"); fi
  if id prometheus >/dev/null 2>&1 && command -v pgrep >/dev/null 2>&1; then
    while read -r p; do [[ -n "$p" ]] && pids+=("$p"); done < <(pgrep -u prometheus -f "^${bin}( |$)" || true)
  fi
  local p
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && echo "$p"; done | sort -u
}

stop_packaged() { # <service> <binary> <pidfile>
  local svc=$1 bin=$2 pidfile=$3 pids
  pids=$(packaged_pids "$bin" "$pidfile")
  [[ -z "$pids" ]] && return 0
  log "stopping packaged ${svc} daemon (pid ${pids//$'\n'/ }): tests start their own on free ports"
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
  local pid
  for pid in $pids; do
    if kill -0 "$pid" 2>/dev/null; then
      $SUDO kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      $SUDO kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

MISSING=$(missing_packages)
SUDO=$(privilege)

if [[ -n "$MISSING" ]]; then
  if [[ "$SUDO" == "no" ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: missing Debian packages: ${MISSING} — install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING} (or run: sudo bash scripts/test-deps.sh)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  log "installing missing Debian packages: ${MISSING}"
  updated=false
  for attempt in 1 2 3; do
    if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update -qq >&2; then updated=true; break; fi
    log "apt-get update failed (attempt ${attempt}), retrying in 5 s"
    sleep 5
  done
  $updated || { log "apt-get update failed"; exit 1; }
  # shellcheck disable=SC2086 # MISSING is a space-separated list of package names
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends $MISSING </dev/null >&2
  # Without a policy-rc.d the postinst scripts start the packaged daemons. Stop the ones this
  # install started: the tests run their own servers on free ports (and Prometheus holds :9090).
  for pkg in $MISSING; do
    case "$pkg" in
      redis-server | redis-sentinel | prometheus-alertmanager) $SUDO service "$pkg" stop >/dev/null 2>&1 || true ;;
      prometheus)
        $SUDO service prometheus stop >/dev/null 2>&1 || true
        stop_packaged prometheus "$PROM_DEFAULT_BIN" "$PROM_PIDFILE" ;;
    esac
  done
  STILL=$(missing_packages)
  if [[ -n "$STILL" ]]; then
    echo "test-deps: still missing after apt-get install: ${STILL}" >&2
    exit 1
  fi
fi

# A packaged Alertmanager holds :9093/:9094 (its gossip would meet the tests' own): stop it
# whenever it runs and we may (as .ci/run always did); without privileges leave it alone. A
# packaged Prometheus (:9090) is stopped only when this script installed it (above).
if [[ "$SUDO" != "no" ]]; then
  stop_packaged prometheus-alertmanager "$AM_DEFAULT_BIN" "$AM_PIDFILE"
fi

log "found redis-server, redis-sentinel, redis-cli, openssl, chromium, $(find_alertmanager), $(find_amtool), $(find_promtool)"
