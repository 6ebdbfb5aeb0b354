#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver when missing: the console's
# browser test (tests/console_browser.rs) drives them. Run as root (CI is).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver
