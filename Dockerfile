# clawtalk in a container: a static musl binary on Alpine, run as a non-root user, with the
# config and all state in one volume.
#
#   scripts/docker-build.sh                  # or: docker build -t clawtalk .
#   docker run -it --rm -v clawtalk:/home/clawtalk/.clawtalk clawtalk onboard dingtalk
#   docker run -d --name clawtalk -p 18789:18789 -v clawtalk:/home/clawtalk/.clawtalk clawtalk
#
# Details: docs/install.md.

# Alpine's Rust targets musl natively, so the release build is static without a cross
# compiler; musl-dev gives the C compiler SQLite and ring need.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p clawtalk --bin clawtalk \
    && cp target/release/clawtalk /clawtalk

# Alpine rather than scratch: its busybox `wget` runs the health check, and a shell helps
# when an operator has to look inside. The binary itself needs nothing from it.
FROM alpine:3.22
RUN adduser -D -u 10001 -h /home/clawtalk clawtalk
COPY --from=build /clawtalk /usr/local/bin/clawtalk
USER clawtalk
ENV HOME=/home/clawtalk
WORKDIR /home/clawtalk
# ~/.clawtalk holds the config file (clawtalk.json), the store, logs, the console token,
# media and workspaces: keeping it in a volume keeps them across upgrades.
RUN mkdir -m 0700 /home/clawtalk/.clawtalk
VOLUME ["/home/clawtalk/.clawtalk"]
# The HTTP listener: health and readiness, the web console, DingTalk webhooks in HTTP mode.
EXPOSE 18789
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD wget -q -O /dev/null http://127.0.0.1:18789/healthz || exit 1
ENTRYPOINT ["clawtalk"]
# `lan` listens on every interface of the container so that `-p 18789:18789` reaches it.
CMD ["gateway", "run", "--bind", "lan"]
