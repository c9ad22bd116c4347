#!/usr/bin/env bash
# Make sure the servers Clientele needs answer on their local addresses.
# For each one: check the address; if nothing answers, start the installed
# server; if none is installed and we are root on Debian/Ubuntu, install it
# with apt first. Prints what it does; exits non-zero naming the server, its
# address and the command to start it when it cannot.
#
# Usage: scripts/ensure-infra.sh postgres redis [rabbitmq]
set -euo pipefail

say() { printf 'infra: %s\n' "$*"; }

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for() { # name host port
  for _ in $(seq 1 60); do
    answers "$2" "$3" && return 0
    sleep 0.5
  done
  return 1
}

apt_install() { # packages...
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_start_command='pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
redis_start_command='redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log'
rabbitmq_start_command='rabbitmq-server -detached'

trust_local_postgres() {
  # A fresh Debian cluster asks for passwords on TCP; a development machine's
  # loopback-only server is given trust auth, as on the CI machines.
  local hba
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    say "allowing trust auth on loopback in $hba (development server)"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
}

is_installed() { # package
  if command -v dpkg >/dev/null 2>&1; then
    dpkg -s "$1" >/dev/null 2>&1
  else
    command -v "${1%%-*}" >/dev/null 2>&1
  fi
}

ensure() { # name host port package start_command
  local name=$1 host=$2 port=$3 package=$4 start=$5
  if answers "$host" "$port"; then
    say "$name answers on $host:$port"
    return 0
  fi
  say "$name does not answer on $host:$port"
  if ! is_installed "$package"; then
    if ! apt_install "$package"; then
      say "ERROR: $name is not installed and I cannot install it (need root and apt-get)."
      say "Install the Debian package '$package', then start it with: $start"
      exit 1
    fi
    [ "$name" = postgres ] && trust_local_postgres
  fi
  say "starting $name: $start"
  bash -c "$start" >/dev/null 2>&1 || say "the start command reported an error; waiting anyway"
  if wait_for "$name" "$host" "$port"; then
    say "$name answers on $host:$port"
  else
    say "ERROR: $name still does not answer on $host:$port."
    say "Start it with: $start"
    exit 1
  fi
}

servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(postgres redis)
for server in "${servers[@]}"; do
  case "$server" in
    postgres) ensure postgres 127.0.0.1 5432 postgresql "$postgres_start_command" ;;
    redis) mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
           ensure redis 127.0.0.1 6379 redis-server "$redis_start_command" ;;
    rabbitmq) ensure rabbitmq 127.0.0.1 5672 rabbitmq-server "$rabbitmq_start_command" ;;
    *) say "unknown server '$server'"; exit 2 ;;
  esac
done
