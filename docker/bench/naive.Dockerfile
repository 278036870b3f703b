# A deliberately naive build of beacon, for `cargo xtask bench` only: toolchain, sources and build
# output all stay in the image (no runtime stage), to show what the multi-stage Dockerfile saves;
# and built for arm64 FROM an arm64 base it compiles under QEMU emulation, to show what
# cross-compiling saves. Crates come from the `vendor` build context, as in docker/Dockerfile.
ARG BASE=debian:trixie-slim
FROM ${BASE} AS toolchain
RUN apt-get update \
    && apt-get install -y --no-install-recommends cargo rustc gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV CARGO_HOME=/usr/local/cargo
RUN mkdir -p "$CARGO_HOME" \
    && printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "/vendor"\n' \
        > "$CARGO_HOME/config.toml"

FROM toolchain AS naive
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY xtask/Cargo.toml xtask/
RUN mkdir -p xtask/src && echo 'fn main() {}' > xtask/src/main.rs
RUN --network=none --mount=type=bind,from=vendor,target=/vendor cargo build --release --locked --offline -p beacon
USER 65532:65532
HEALTHCHECK CMD ["/src/target/release/beacon", "healthcheck"]
ENTRYPOINT ["/src/target/release/beacon"]
