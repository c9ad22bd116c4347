#!/usr/bin/env bash
# Make sure the command-line tools the tests use offline are installed:
# docker-compose (validates docker-compose.yml without a Docker engine).
# With "bench", also what `make bench` drives: wrk (a load generator in C, so the
# client takes little of the CPU it measures) and nginx (the plain proxy the
# gateway is compared with).
# As root on Debian/Ubuntu, installs what is missing with apt; otherwise says
# what to install and exits non-zero.
set -euo pipefail

say() { printf 'tools: %s\n' "$*"; }

ensure_tool() { # command package
  if command -v "$1" >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $2 with apt-get (for $1)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    say "ERROR: $1 is missing; install the Debian package '$2'"
    exit 1
  fi
}

ensure_tool docker-compose docker-compose
if [ "${1:-}" = bench ]; then
  ensure_tool wrk wrk
  ensure_tool nginx nginx
fi
