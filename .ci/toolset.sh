#!/usr/bin/env bash
# The two toolsets the suite is proven on, and the engine that runs one of them (called by testbed.sh;
# runnable alone: `.ci/toolset.sh current|minimum`). Idempotent: installs what is missing, restarts the
# engine only when it runs another toolset (or is down).
#
# - minimum: Debian trixie's dockerd 26.1 / containerd 1.7 / docker-cli 26 / buildx 0.13.1 / cosign 2.5
#   (installed by testbed.sh as packages).
# - current: Debian forky's dockerd + docker-proxy 28.5.2, containerd 2.1.9 (+ its runc shim), docker-cli
#   28.5.2, buildx 0.29.1 and cosign 3.1.1: their .deb files fetched with `apt-get download` through a
#   private apt state (the host's apt sources and pins stay untouched, nothing is installed from forky),
#   cached, and unpacked under /opt/xtask-toolset/current. They need glibc <= 2.34; forky's runc and
#   skopeo need 2.38, so both toolsets use the host's runc and skopeo.
#
# Each toolset has its own engine state (data-root, containerd root): containerd 2 may not be downgraded
# in place. The engine's paths are overridable by XTASK_ENGINE_* variables, so a second engine can run
# beside the machine's (tests of this script do that); the defaults are the machine's engine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[toolset %5ss] %s\n' "$SECONDS" "$*"; }

usage() { echo "usage: $0 [--beside] current|minimum" >&2; exit 2; }
beside=0
[ "${1:-}" != --beside ] || { beside=1; shift; }
toolset=${1:-current}
case "$toolset" in current | minimum) ;; *) usage ;; esac

# --beside: a second engine next to the machine's, on its own paths, bridge and socket (the slow tier
# runs the minimum toolset so; this script's own tests run it so). Prints the environment that
# selects it: DOCKER_HOST, DOCKER_CONFIG (buildx as its CLI plugin) and PATH (its docker and cosign).
if [ "$beside" = 1 ]; then
  b=/run/xtask-$toolset
  : "${XTASK_ENGINE_ACTIVE:=$b/active}" "${XTASK_ENGINE_BIN_LINKS:=$b/bin}"
  : "${XTASK_ENGINE_PLUGIN_LINKS:=$b/docker-config/cli-plugins}" "${XTASK_ENGINE_SOCK:=$b/docker.sock}"
  : "${XTASK_ENGINE_PIDFILE:=$b/docker.pid}" "${XTASK_ENGINE_EXEC_ROOT:=$b/exec}"
  : "${XTASK_ENGINE_CONTAINERD_SOCK:=$b/containerd/containerd.sock}"
  : "${XTASK_ENGINE_CONTAINERD_STATE:=$b/containerd}" "${XTASK_ENGINE_STATE:=/var/lib/xtask-$toolset}"
  : "${XTASK_ENGINE_DAEMON_JSON:=$b/daemon.json}" "${XTASK_ENGINE_LOGS:=$b/log}"
  : "${XTASK_ENGINE_BRIDGE:=xt-$toolset}" "${XTASK_ENGINE_IPTABLES:=false}"
  # Its own bridge (dockerd's default docker0 is the machine engine's); no iptables rules of its own
  # (published ports go through docker-proxy), so the machine engine's chains stay untouched.
  if ! ip link show "$XTASK_ENGINE_BRIDGE" >/dev/null 2>&1; then
    subnet=$([ "$toolset" = current ] && echo 172.31.213 || echo 172.31.214)
    ip link add name "$XTASK_ENGINE_BRIDGE" type bridge
    ip addr add "$subnet.1/24" dev "$XTASK_ENGINE_BRIDGE"
    ip link set "$XTASK_ENGINE_BRIDGE" up
  fi
  # Its containers (and build steps: apt over HTTP) reach out through NAT: rules for its bridge only.
  subnet=$(ip -4 -o addr show dev "$XTASK_ENGINE_BRIDGE" | awk '{print $4}' | sed 's/\.1\//.0\//')
  nat=(-t nat POSTROUTING -s "$subnet" ! -o "$XTASK_ENGINE_BRIDGE" -j MASQUERADE)
  out=(FORWARD -i "$XTASK_ENGINE_BRIDGE" -j ACCEPT)
  back=(FORWARD -o "$XTASK_ENGINE_BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT)
  iptables -t nat -C POSTROUTING "${nat[@]:3}" 2>/dev/null || iptables -t nat -A POSTROUTING "${nat[@]:3}"
  iptables -C "${out[@]}" 2>/dev/null || iptables -I "${out[@]}"
  iptables -C "${back[@]}" 2>/dev/null || iptables -I "${back[@]}"
fi

# Keep these equal to the table in crates/xtask-release/src/rules/toolset.rs (doctor's supported ranges).
FORKY_DEBS=(docker.io=28.5.2+dfsg4-5 docker-cli=28.5.2+dfsg4-5 containerd=2.1.9+ds1-5
  docker-buildx=0.29.1+ds1-4 cosign=3.1.1-2)

PREFIX=${XTASK_TOOLSET_PREFIX:-/opt/xtask-toolset}
CACHE=${XTASK_TOOLSET_CACHE:-/var/cache/xtask-toolset}
# The engine that runs the chosen toolset (defaults: the machine's).
ACTIVE=${XTASK_ENGINE_ACTIVE:-$PREFIX/active}                         # symlink to the running toolset
BIN_LINKS=${XTASK_ENGINE_BIN_LINKS:-/usr/local/bin}                   # docker, cosign for every shell
PLUGIN_LINKS=${XTASK_ENGINE_PLUGIN_LINKS:-/usr/local/lib/docker/cli-plugins}  # docker-buildx
SOCK=${XTASK_ENGINE_SOCK:-/var/run/docker.sock}
PIDFILE=${XTASK_ENGINE_PIDFILE:-/var/run/docker.pid}
EXEC_ROOT=${XTASK_ENGINE_EXEC_ROOT:-/var/run/docker}
CTRD_SOCK=${XTASK_ENGINE_CONTAINERD_SOCK:-/run/containerd/containerd.sock}
CTRD_STATE=${XTASK_ENGINE_CONTAINERD_STATE:-/run/containerd}
STATE=${XTASK_ENGINE_STATE:-/var/lib}        # <STATE>/docker[-current], <STATE>/containerd[-current]
DAEMON_JSON=${XTASK_ENGINE_DAEMON_JSON:-/etc/docker/daemon.json}
BRIDGE=${XTASK_ENGINE_BRIDGE:-}              # empty: docker0
IPTABLES=${XTASK_ENGINE_IPTABLES:-true}
LOGS=${XTASK_ENGINE_LOGS:-/var/log}
MARKER=$CTRD_STATE/xtask-toolset             # which toolset the running engine is

# --- install ---------------------------------------------------------------------------------------
install_current() {
  local dir=$PREFIX/current want have
  want=$(printf '%s\n' "${FORKY_DEBS[@]}")
  have=$(cat "$dir/debs" 2>/dev/null || true)
  [ "$want" = "$have" ] && [ -x "$dir/bin/dockerd" ] && return 0
  log "installing the current toolset (forky: ${FORKY_DEBS[*]})"
  local apt=$CACHE/apt debs=$CACHE/debs
  mkdir -p "$apt/etc" "$apt/lists/partial" "$apt/cache/archives/partial" "$debs"
  cat > "$apt/etc/forky.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: forky
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # A private apt state: the host's sources, pins and package lists stay as they are.
  local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/etc"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
    -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
  local missing=() pkg
  for pkg in "${FORKY_DEBS[@]}"; do
    compgen -G "$debs/${pkg%%=*}_${pkg#*=}_*.deb" >/dev/null || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get "${opts[@]}" update -qq
    (cd "$debs" && apt-get "${opts[@]}" download -qq "${missing[@]}")
  fi
  local tmp
  tmp=$(mktemp -d "$PREFIX.unpack.XXXXXX")
  for pkg in "${FORKY_DEBS[@]}"; do
    dpkg-deb -x "$(compgen -G "$debs/${pkg%%=*}_${pkg#*=}_*.deb")" "$tmp/root"
  done
  mkdir -p "$tmp/current/bin" "$tmp/current/cli-plugins"
  local b
  for b in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/containerd usr/bin/containerd-shim-runc-v2 \
           usr/bin/ctr usr/bin/docker usr/bin/cosign; do
    mv "$tmp/root/$b" "$tmp/current/bin/"
  done
  mv "$tmp/root/usr/libexec/docker/cli-plugins/docker-buildx" "$tmp/current/cli-plugins/"
  link_host_tools "$tmp/current"
  printf '%s\n' "${FORKY_DEBS[@]}" > "$tmp/current/debs"
  rm -rf "$dir"
  mkdir -p "$PREFIX"
  mv "$tmp/current" "$dir"
  rm -rf "$tmp"
}

install_minimum() {
  local dir=$PREFIX/minimum
  [ -L "$dir/bin/dockerd" ] && [ -e "$dir/bin/docker" ] && [ -L "$dir/cli-plugins/docker-buildx" ] && return 0
  log "linking the minimum toolset (trixie's packages) under $dir"
  mkdir -p "$dir/bin" "$dir/cli-plugins"
  ln -sfn /usr/sbin/dockerd /usr/sbin/docker-proxy /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 \
    /usr/bin/ctr /usr/bin/cosign "$dir/bin/"
  if [ -x /usr/bin/docker ]; then
    ln -sfn /usr/bin/docker "$dir/bin/docker"
  else
    # A machine whose docker CLI came from elsewhere: trixie's docker-cli, unpacked, not installed.
    mkdir -p "$CACHE/debs" && (cd "$CACHE/debs" && apt-get download -qq docker-cli/trixie)
    local tmp
    tmp=$(mktemp -d)
    dpkg-deb -x "$(ls -t "$CACHE"/debs/docker-cli_26.*_*.deb | head -n 1)" "$tmp"
    mv "$tmp/usr/bin/docker" "$dir/bin/docker"
    rm -rf "$tmp"
  fi
  ln -sfn /usr/libexec/docker/cli-plugins/docker-buildx "$dir/cli-plugins/docker-buildx"
  link_host_tools "$dir"
}

# Both toolsets use the host's runc (forky's needs glibc 2.38).
link_host_tools() { ln -sfn "$(command -v runc)" "$1/bin/runc"; }

# --- engine ----------------------------------------------------------------------------------------
engine_up() { DOCKER_HOST="unix://$SOCK" "$ACTIVE/bin/docker" info >/dev/null 2>&1; }

# The process that listens on exactly this unix socket (never a process chosen by name).
socket_owner() {
  ss -xlpn 2>/dev/null | awk -v s="$1" '$5 == s { if (match($0, /pid=[0-9]+/)) print substr($0, RSTART + 4, RLENGTH - 4); exit }'
}

stop_pid() {  # pid what
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  log "stopping $2 (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  echo "$2 (pid $pid) did not stop in 30 s" >&2
  exit 1
}

stop_engine() {
  stop_pid "$(cat "$PIDFILE" 2>/dev/null || socket_owner "$SOCK")" dockerd
  stop_pid "$(socket_owner "$CTRD_SOCK")" containerd
  rm -f "$MARKER"
}

start_engine() {
  local sfx="" dir=$PREFIX/$toolset
  [ "$toolset" = minimum ] || sfx=-$toolset
  mkdir -p "$CTRD_STATE" "$STATE" "$LOGS" "$(dirname "$DAEMON_JSON")"
  ln -sfn "$dir" "$ACTIVE"
  # The toolset's own binaries first: dockerd finds docker-proxy, containerd its shim, both runc.
  local path="$ACTIVE/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  # containerd's own config: the CRI plugin off (no Kubernetes here), nothing from /etc/containerd.
  local ctrd_config=$CTRD_STATE/xtask-config.toml
  printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' > "$ctrd_config"
  log "starting containerd ($toolset: $("$dir/bin/containerd" --version | cut -d' ' -f3))"
  PATH=$path setsid nohup "$dir/bin/containerd" --config "$ctrd_config" --address "$CTRD_SOCK" \
    --root "$STATE/containerd$sfx" --state "$CTRD_STATE" \
    >"$LOGS/containerd$sfx.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do [ -S "$CTRD_SOCK" ] && break; sleep 0.5; done
  [ -S "$CTRD_SOCK" ] || { tail -n 30 "$LOGS/containerd$sfx.log"; echo "containerd did not start" >&2; exit 1; }
  local args=(--config-file "$DAEMON_JSON" --containerd "$CTRD_SOCK" --host "unix://$SOCK"
    --pidfile "$PIDFILE" --exec-root "$EXEC_ROOT" --data-root "$STATE/docker$sfx" --iptables="$IPTABLES")
  [ -z "$BRIDGE" ] || args+=(--bridge "$BRIDGE")
  log "starting dockerd ($toolset: $("$dir/bin/dockerd" --version | cut -d' ' -f3 | tr -d ,))"
  PATH=$path setsid nohup "$dir/bin/dockerd" "${args[@]}" >"$LOGS/dockerd$sfx.log" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do engine_up && break; sleep 0.5; done
  engine_up || { tail -n 50 "$LOGS/dockerd$sfx.log"; echo "dockerd did not start" >&2; exit 1; }
  echo "$toolset" > "$MARKER"
}

link_clients() {
  mkdir -p "$BIN_LINKS" "$PLUGIN_LINKS"
  ln -sfn "$ACTIVE/bin/docker" "$BIN_LINKS/docker"
  ln -sfn "$ACTIVE/bin/cosign" "$BIN_LINKS/cosign"
  ln -sfn "$ACTIVE/cli-plugins/docker-buildx" "$PLUGIN_LINKS/docker-buildx"
}

# What the suite needs, merged into whatever daemon.json holds (jq): the containerd image store,
# 198.18.0.0/15 (RFC 2544, reserved for testing) as an insecure registry: the insecure-registry test
# serves a plain-HTTP registry from a network namespace it creates there; and, unless one is set, a
# bound on the build cache (every suite run adds fixtures' layers: unbounded, it filled this machine's
# disk mid-run). A change restarts the engine.
daemon_json() {
  local current want
  current=$(cat "$DAEMON_JSON" 2>/dev/null || true)
  [ -n "$current" ] || current='{}'
  want=$(printf '%s' "$current" | jq -e -S \
    '.features += {"containerd-snapshotter": true}
     | .["insecure-registries"] = ((.["insecure-registries"] // []) + ["198.18.0.0/15"] | unique)
     | .builder.gc //= {"enabled": true, "defaultKeepStorage": "20GB"}')
  [ "$(printf '%s' "$current" | jq -S .)" != "$want" ] || return 1
  log "merging the containerd image store and the test insecure-registry into $DAEMON_JSON"
  mkdir -p "$(dirname "$DAEMON_JSON")"
  printf '%s\n' "$want" > "$DAEMON_JSON"
}

"install_$toolset"
restart=0
daemon_json && restart=1
running=$(cat "$MARKER" 2>/dev/null || true)
if [ "$restart" = 1 ] || [ "$running" != "$toolset" ] || ! engine_up; then
  [ -z "$running" ] || [ "$running" = "$toolset" ] || log "switching the engine from $running to $toolset"
  stop_engine
  start_engine
fi
link_clients
DOCKER_HOST="unix://$SOCK" "$ACTIVE/bin/docker" info --format '{{.DriverStatus}}' | grep -q 'io.containerd.snapshotter' \
  || { echo "dockerd is not using the containerd image store (features.containerd-snapshotter in $DAEMON_JSON)" >&2; exit 1; }
log "engine on unix://$SOCK: $toolset toolset"
if [ "$beside" = 1 ]; then
  # The base images the tests build on, from the root file systems testbed.sh cached, and registry:2.
  d=(env "DOCKER_HOST=unix://$SOCK" "$ACTIVE/bin/docker")
  for suite in trixie forky; do
    "${d[@]}" image inspect "debian:$suite-slim" >/dev/null 2>&1 && continue
    [ -s "$CACHE/seed/$suite.tar" ] || { echo "no $CACHE/seed/$suite.tar: run .ci/testbed.sh first" >&2; exit 1; }
    log "seeding debian:$suite-slim from $CACHE/seed/$suite.tar"
    "${d[@]}" import --change 'CMD ["bash"]' "$CACHE/seed/$suite.tar" "debian:$suite-slim" >/dev/null
  done
  if ! "${d[@]}" image inspect registry:2 >/dev/null 2>&1; then
    log "seeding registry:2 from Debian's docker-registry"
    ctx=$(mktemp -d)
    cp "$(command -v docker-registry)" "$ctx/registry"
    cp "$here/../docker/testbed/registry.Dockerfile" "$here/../docker/testbed/registry-config.yml" "$ctx/"
    "${d[@]}" build -q -t registry:2 -f "$ctx/registry.Dockerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  printf 'DOCKER_HOST=unix://%s\nDOCKER_CONFIG=%s\nPATH=%s:%s\n' "$SOCK" "$(dirname "$PLUGIN_LINKS")" \
    "$BIN_LINKS" "$PATH" > "$(dirname "$SOCK")/env"
  cat "$(dirname "$SOCK")/env"
fi
