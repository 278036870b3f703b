#!/usr/bin/env bash
# The slow tier's minimum toolset (Debian trixie's Docker 26, buildx 0.13, cosign 2): a second engine
# beside this machine's (`.ci/toolset.sh --beside minimum` writes the environment that selects it),
# on which the release, retraction and try-it-locally tests and a rehearsal of the release run.
# Arguments go to the rehearsal (`cargo xtask ci --rehearsal-only …`, e.g. --db-repository).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/toolset.sh --beside minimum
set -a
# shellcheck disable=SC1091
. /run/xtask-minimum/env
set +a
docker buildx version
cargo test -p xtask-release --locked --test release --test retract
cargo test -p xtask --locked --test try_it_locally
cargo xtask ci --rehearsal-only "$@"
