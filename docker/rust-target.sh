#!/bin/sh
# Maps Docker's TARGETARCH to the Rust target triple the builder cross-compiles for.
case "$1" in
  amd64) echo x86_64-unknown-linux-gnu ;;
  arm64) echo aarch64-unknown-linux-gnu ;;
  *) echo "rust-target: unsupported TARGETARCH '$1' (supported: amd64, arm64)" >&2; exit 1 ;;
esac
