#!/usr/bin/env bash
# Make sure the command-line tools the tests use offline are installed:
# docker-compose (validates docker-compose.yml without a Docker engine).
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
