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
#   or from snapshot.debian.org once forky no longer lists the pinned version, cached, verified against
#   their pinned sha256 (FORKY_SHA256), and unpacked under /opt/xtask-toolset/current. They need
#   glibc <= 2.34; forky's runc and skopeo need 2.38, so both toolsets use the host's runc and skopeo.
#
# Without an engine or the network: `.ci/toolset.sh --verify-cache DIR` checks the current toolset's
# .debs for this machine's architecture in DIR as an install does (a mismatch is removed), and
# `.ci/toolset.sh --snapshot-urls` prints, per architecture and package, the snapshot.debian.org URL
# the install would fall back to and the pinned sha256 (xtask/tests/toolset.rs runs both).
#
# Each toolset has its own engine state (data-root, containerd root): containerd 2 may not be downgraded
# in place. The engine's paths are overridable by XTASK_ENGINE_* variables, so a second engine can run
# beside the machine's (tests of this script do that); the defaults are the machine's engine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[toolset %5ss] %s\n' "$SECONDS" "$*"; }

usage() { echo "usage: $0 [--beside] current|minimum | --verify-cache DIR | --snapshot-urls" >&2; exit 2; }

# --- the current toolset's .debs ------------------------------------------------------------------
# Keep these equal to the table in crates/xtask-release/src/rules/toolset.rs (doctor's supported ranges).
FORKY_DEBS=(docker.io=28.5.2+dfsg4-5 docker-cli=28.5.2+dfsg4-5 containerd=2.1.9+ds1-5
  docker-buildx=0.29.1+ds1-4 cosign=3.1.1-2)
# Their sha256, per build-host architecture the testbed supports, keyed by the archive's file name:
# each equals the SHA256 of forky's signed Packages index (Release dated 2026-10-30 08:08:01 UTC) and
# of the file apt downloaded. Every .deb, downloaded or cached, is checked against it before unpacking.
FORKY_ARCHES=(amd64 arm64)
declare -A FORKY_SHA256=(
  [docker.io_28.5.2+dfsg4-5_amd64.deb]=69a59cc77a1fb8ee9ad6859abc2e6de5d76b70887405595c2b1307818fecf682
  [docker-cli_28.5.2+dfsg4-5_amd64.deb]=8ea2428acdda666f41263f5a0d3a85681a696491361574eb7bd721a1194939b9
  [containerd_2.1.9+ds1-5_amd64.deb]=2dda86ce7033fd612fc50e136679d8174ccad680eb29cd4611e0d2a1b84cf591
  [docker-buildx_0.29.1+ds1-4_amd64.deb]=6103bcc4eab8169ae679f806d3949ffc99a1545a61fddea6124da826f115f2bf
  [cosign_3.1.1-2_amd64.deb]=d8622ebffce1d69197288fc030ff06a4c247af5507107f85c5a878870b686b23
  [docker.io_28.5.2+dfsg4-5_arm64.deb]=7da4fd6e52c4810b06925d98e216812d2260152f1f34bb1e30cfd69395b1e459
  [docker-cli_28.5.2+dfsg4-5_arm64.deb]=0d8ca54ff94caf1df61df03320c3fda2254841651a223f8d272c905f84ae3205
  [containerd_2.1.9+ds1-5_arm64.deb]=43426c2af51f051e86374143d34031830ee5d0ff16bc23f35c6f498f27f8389d
  [docker-buildx_0.29.1+ds1-4_arm64.deb]=4d6b995fdfd10e2f045d020b108abb33df699cf66f213c1acf97a8d893b74bc4
  [cosign_3.1.1-2_arm64.deb]=131d3a895f48a1f1f5df708cb3423e96fee4d2135ff4ee3fc71b884290e79549
)
# The source package of each, where it is not the binary's own name: the archive's pool directory.
declare -A FORKY_SOURCE=([docker-cli]=docker.io)
# Once forky (Debian testing) lists newer versions, apt cannot download these: they then come from
# snapshot.debian.org at this timestamp, the Date of the forky Release whose signed Packages list all
# ten files above (the one the hashes were checked against). Snapshot answers a timestamp with its
# latest import at or before it; the ten files were in the archive's pool from before their migration
# to forky (the newest upload, cosign 3.1.1-2, is dated 2026-10-23 in its changelog; migration takes
# two days or more) until at least this date. Moving to new versions: update FORKY_DEBS, FORKY_SHA256
# (both architectures) and this stamp together, the stamp the Date of a forky Release listing them all.
SNAPSHOT_STAMP=20261030T080801Z

# The archive's file name of a package=version for an architecture (no epochs among the pins).
deb_file() { printf '%s_%s_%s.deb\n' "${1%%=*}" "${1#*=}" "$2"; }

# Where snapshot.debian.org keeps it: pool/main/<initial>/<source>/, `lib*` sources under four letters.
snapshot_url() {
  local name=${1%%=*} src initial
  src=${FORKY_SOURCE[$name]:-$name}
  initial=${src:0:1}
  [[ $src != lib* ]] || initial=${src:0:4}
  printf 'http://snapshot.debian.org/archive/debian/%s/pool/main/%s/%s/%s\n' \
    "$SNAPSHOT_STAMP" "$initial" "$src" "$(deb_file "$1" "$2")"
}

# Checks a .deb (pkg=version, architecture) against its pin. A mismatch prints one line and removes
# the file, so the next run fetches it anew.
verify_deb() {  # file pkg arch
  local file=$1 want have
  want=${FORKY_SHA256[$(deb_file "$2" "$3")]:-}
  if [ -z "$want" ]; then
    echo "toolset: no pinned sha256 for ${2%%=*} ${2#*=} on $3 (FORKY_SHA256 in .ci/toolset.sh covers ${FORKY_ARCHES[*]}): add it" >&2
    return 1
  fi
  if [ ! -f "$file" ]; then
    echo "toolset: ${2%%=*} ${2#*=} ($3): $file is missing" >&2
    return 1
  fi
  have=$(sha256sum < "$file" | cut -d' ' -f1)
  [ "$have" != "$want" ] || return 0
  rm -f "$file"
  echo "toolset: ${2%%=*} ${2#*=} ($3): $file has sha256 $have, pinned $want; removed it: run .ci/toolset.sh current again to fetch it anew, and if it differs again the archive no longer serves the pinned file: find out why before changing FORKY_SHA256" >&2
  return 1
}

# Downloads a URL to a file, with retries: curl, or apt's own downloader where curl is absent (a bare
# debian:bookworm, the GitHub ci job's container).
fetch_url() {  # url file
  rm -f "$2"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 5 --retry-delay 5 --retry-all-errors --connect-timeout 30 -o "$2" "$1"
  else
    /usr/lib/apt/apt-helper -o Acquire::Retries=5 -o APT::Sandbox::User=root download-file "$1" "$2"
  fi
}

case "${1:-}" in
  --verify-cache)
    dir=${2:-}
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then usage; fi
    arch=$(dpkg --print-architecture)
    status=0
    for pkg in "${FORKY_DEBS[@]}"; do
      verify_deb "$dir/$(deb_file "$pkg" "$arch")" "$pkg" "$arch" || status=1
    done
    [ "$status" != 0 ] || echo "toolset: the ${#FORKY_DEBS[@]} .debs of the current toolset ($arch) in $dir match their pins"
    exit "$status" ;;
  --snapshot-urls)
    for arch in "${FORKY_ARCHES[@]}"; do
      for pkg in "${FORKY_DEBS[@]}"; do
        printf '%s %s\n' "$(snapshot_url "$pkg" "$arch")" "${FORKY_SHA256[$(deb_file "$pkg" "$arch")]:-none}"
      done
    done
    exit 0 ;;
esac

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
  local arch missing=() pkg file
  arch=$(dpkg --print-architecture)
  for pkg in "${FORKY_DEBS[@]}"; do
    file=$(deb_file "$pkg" "$arch")
    [ -n "${FORKY_SHA256[$file]:-}" ] \
      || { echo "toolset: no pinned sha256 for $file (FORKY_SHA256 in .ci/toolset.sh covers ${FORKY_ARCHES[*]})" >&2; exit 1; }
    [ -e "$debs/$file" ] || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get "${opts[@]}" update -qq || log "apt-get update failed: what is missing comes from snapshot.debian.org"
    for pkg in "${missing[@]}"; do
      (cd "$debs" && apt-get "${opts[@]}" download -qq "$pkg") && continue
      # forky moved on (or is out of reach): the same file from the archive's history.
      file=$(deb_file "$pkg" "$arch")
      log "forky no longer lists $pkg: fetching $file from snapshot.debian.org ($SNAPSHOT_STAMP)"
      if ! fetch_url "$(snapshot_url "$pkg" "$arch")" "$debs/$file.part"; then
        rm -f "$debs/$file.part"
        echo "toolset: ${pkg%%=*} ${pkg#*=} ($arch): forky does not list it and $(snapshot_url "$pkg" "$arch") failed (above): run again if snapshot.debian.org was down, else move FORKY_DEBS, FORKY_SHA256 and SNAPSHOT_STAMP in .ci/toolset.sh together to versions forky lists" >&2
        exit 1
      fi
      mv "$debs/$file.part" "$debs/$file"
    done
  fi
  # Every .deb, cached or just downloaded, matches its pin before anything is unpacked.
  local bad=0
  for pkg in "${FORKY_DEBS[@]}"; do
    verify_deb "$debs/$(deb_file "$pkg" "$arch")" "$pkg" "$arch" || bad=1
  done
  [ "$bad" = 0 ] || exit 1
  local tmp
  tmp=$(mktemp -d "$PREFIX.unpack.XXXXXX")
  for pkg in "${FORKY_DEBS[@]}"; do
    dpkg-deb -x "$debs/$(deb_file "$pkg" "$arch")" "$tmp/root"
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
