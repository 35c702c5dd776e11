#!/usr/bin/env bash
# Installs Debian's chromium (if needed) for the browser test (tests/consolidation/test_browser.py), which runs
# it headless against a local Prefect server and the HTML bulletin. No browser download: apt only.
# Idempotent: works on a fresh machine and on one where it already ran. Messages go to stderr.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  echo "chromium.sh: $(chromium --version 2>/dev/null | head -n 1) already installed" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium.sh: chromium is not installed and installing it needs root:" \
    "run 'sudo apt-get install chromium' (or this script as root)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: chromium is not installed and there is no apt-get here:" \
    "install Chromium with this system's package manager" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1 \
  || [ "$(apt-cache policy chromium | awk '/Candidate:/ {print $2}')" = "(none)" ]; then
  apt-get update -qq >&2
fi
if ! apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >&2; then
  apt-get update -qq >&2  # stale lists: refresh once and try again
  apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >&2
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium.sh: still no chromium binary" >&2; exit 1; }
echo "chromium.sh: installed $(chromium --version | head -n 1) in $(($(date +%s) - start)) s" >&2
