# A registry:2-compatible image built from Debian's docker-registry binary (the testbed cannot pull
# the real one). Same binary path, config path, port and volume as the upstream image.
FROM debian:trixie-slim
COPY registry /bin/registry
COPY registry-config.yml /etc/docker/registry/config.yml
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/bin/registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
