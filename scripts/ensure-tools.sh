#!/usr/bin/env bash
# Make sure the command-line tools the platform and its tests use are installed.
#   run    what `make run` needs beside Python: npm (installs the console's front-end
#          packages from gateway/console/package-lock.json) and Prometheus (the local
#          server `make run` starts; its promtool checks the rules).
#   test   (the default) run's, plus docker-compose (validates docker-compose.yml without
#          a Docker engine), kubectl (renders deploy/k8s with kustomize; the package comes
#          from Kubernetes' apt repository where Debian has none) and chromium (the headless
#          browser of the console's tests).
#   bench  test's, plus wrk (a load generator in C, so the client takes little of the CPU
#          it measures) and nginx (the plain proxy the gateway is compared with).
# As root on Debian/Ubuntu, installs what is missing with apt; otherwise says what to
# install and exits non-zero.
set -euo pipefail

say() { printf 'tools: %s\n' "$*"; }

updated=no
ensure_tool() { # command package
  if command -v "$1" >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $2 with apt-get (for $1)"
    if [ "$updated" = no ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      updated=yes
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  else
    say "ERROR: $1 is missing; install the Debian package '$2'"
    exit 1
  fi
}

mode="${1:-test}"
ensure_tool npm npm
ensure_tool promtool prometheus
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  ensure_tool docker-compose docker-compose
  ensure_tool kubectl kubectl
  ensure_tool chromium chromium
fi
if [ "$mode" = bench ]; then
  ensure_tool wrk wrk
  ensure_tool nginx nginx
fi
