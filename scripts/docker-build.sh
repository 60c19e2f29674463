#!/usr/bin/env bash
# Builds the clawtalk image from the Dockerfile and checks that a container of it becomes
# healthy (its HEALTHCHECK reaches /healthz). Without a Docker daemon it says so and exits 0:
# this is not part of CI on machines without one.
#
#   scripts/docker-build.sh [TAG]        # default tag: clawtalk:latest
set -euo pipefail

cd "$(dirname "$0")/.."
TAG=${1:-clawtalk:latest}

if ! command -v docker >/dev/null 2>&1; then
    echo "skipped: no docker command on this machine (install Docker to build the image)"
    exit 0
fi
if ! docker info >/dev/null 2>&1; then
    echo "skipped: the docker command cannot reach a Docker daemon (is it running, and may this user use it?)"
    exit 0
fi

docker build -t "$TAG" .
echo "built image $TAG ($(docker image inspect -f '{{.Size}}' "$TAG") bytes)"

# A first run with no config and no bot is allowed: the gateway serves its health check and
# the web console's setup page, which is all this check needs.
name="clawtalk-check-$$"
docker run -d --name "$name" "$TAG" >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 60); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$name")
    case $health in
    healthy)
        echo "a container of $TAG became healthy (/healthz answered)"
        exit 0
        ;;
    unhealthy) break ;;
    esac
    sleep 2
done
echo "the container did not become healthy (last state: $health); its log:" >&2
docker logs "$name" >&2
exit 1
