#!/usr/bin/env bash
# Installs Debian's redis-server when missing: the fleet-mode and shared
# rate-limit suites start their own on a free loopback port. Run as root (CI is).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server
