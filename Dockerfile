# syntax=docker/dockerfile:1
# Build: docker build -t hookgate .
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Workspace members must be present for cargo to load the workspace; the
# simulator (crates/sfsim) is not compiled by this build.
COPY crates ./crates
RUN cargo build --release --locked --bin hookgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hookgate
COPY --from=build /src/target/release/hookgate /usr/local/bin/hookgate
COPY config/hookgate.example.toml /etc/hookgate/hookgate.toml
RUN mkdir -p /var/lib/hookgate && chown hookgate /var/lib/hookgate
USER hookgate
WORKDIR /var/lib/hookgate
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve", "--config", "/etc/hookgate/hookgate.toml"]
