# A deliberately naive build of one binary of the workspace, for `cargo xtask bench` only: the
# toolchain, the sources and the build output all stay in the image (no runtime stage), to show
# what the engine's multi-stage Dockerfile saves; and built for arm64 FROM an arm64 base it
# compiles under QEMU emulation, to show what cross-compiling saves. Crates come from the `vendor`
# build context, as in the engine's Dockerfile; PACKAGE and BIN name what to build, as there.
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
COPY . .
ARG PACKAGE
ARG BIN
RUN --network=none --mount=type=bind,from=vendor,target=/vendor \
    cargo build --release --locked --offline -p "$PACKAGE" --bin "$BIN" \
    && cp "target/release/$BIN" /app
USER 65532:65532
ENTRYPOINT ["/app"]
