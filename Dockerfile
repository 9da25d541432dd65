# syntax=docker/dockerfile:1
# The gateway and worker image (the default, last stage):
#   docker build -t hookgate .
# The Salesforce simulator (dev only; deploy/compose.yaml builds it):
#   docker build --target sfsim -t hookgate-sfsim .
# Podman/buildah: add --format docker, or HEALTHCHECK is dropped (OCI images
# have no health check field).

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Workspace members must be present for cargo to load the workspace; the
# simulator (crates/sfsim) is not compiled by this stage.
COPY crates ./crates
# The Pub/Sub API's vendored proto, compiled by crates/pubsub-proto.
COPY proto ./proto
RUN cargo build --release --locked --bin hookgate

FROM rust:1-slim-bookworm AS sfsim-build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY crates ./crates
COPY proto ./proto
RUN cargo build --release --locked -p sfsim

# Built only with --target sfsim (or by compose): a dev-only simulator that
# trusts the published test key fixtures/salesforce/jwt/test-rsa.pub.pem.
FROM debian:bookworm-slim AS sfsim
COPY --from=sfsim-build /src/target/release/sfsim /usr/local/bin/sfsim
COPY fixtures/salesforce/jwt/test-rsa.pub.pem /etc/sfsim/test-rsa.pub.pem
ENV SFSIM_JWT_PUB=/etc/sfsim/test-rsa.pub.pem \
    SFSIM_HOST=0.0.0.0
USER 10001
EXPOSE 8787
ENTRYPOINT ["/usr/local/bin/sfsim"]
CMD ["8787"]

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hookgate
COPY --from=build /src/target/release/hookgate /usr/local/bin/hookgate
# config/container.toml: listens on 0.0.0.0, state under /var/lib/hookgate,
# secrets and broker from the environment, TLS files from /etc/hookgate/tls
# (mount them). config/container-worker.toml: the worker's.
COPY config/container.toml /etc/hookgate/hookgate.toml
COPY config/container-worker.toml /etc/hookgate/worker.toml
RUN mkdir -p /var/lib/hookgate /etc/hookgate/tls /etc/hookgate/salesforce \
 && chown hookgate:hookgate /var/lib/hookgate
# The spool, the replay cache and the worker's idempotency store: mount a
# named volume or a host folder (owned by uid 10001) here, or they die with
# the container.
VOLUME /var/lib/hookgate
USER hookgate
WORKDIR /var/lib/hookgate
# 8443: the TLS listener; 9090: the gateway's admin listener (plain HTTP,
# keep it private); 9091: the worker's.
EXPOSE 8443 9090 9091
# Exit 0 when /readyz of the admin listener in the file answers 200. The
# worker's container overrides it with --config /etc/hookgate/worker.toml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/hookgate", "healthcheck", "--config", "/etc/hookgate/hookgate.toml"]
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve", "--config", "/etc/hookgate/hookgate.toml"]
