#!/bin/sh
# Installs the Debian packages flinkop builds and tests with, only those that are missing, so `make run` and
# `make test` work on a fresh machine. Safe to run again: with everything present it does nothing.
set -eu

packages="build-essential pkg-config liblua5.4-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libssl-dev \
libev-dev libcmocka-dev valgrind openssl curl etcd-server etcd-client python3 bc iproute2"
[ "${1:-}" = "--build-only" ] && packages="build-essential pkg-config liblua5.4-dev libcurl4-openssl-dev \
libcjson-dev libyaml-dev libssl-dev libev-dev"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086 # the list is meant to split
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
