#!/usr/bin/env bash
# Installs Debian's dovecot-imapd (if needed) for the IMAP tests, which start their own Dovecot
# (tests/imap_server.py: `dovecot -F -c CONF` on a free loopback port). The system service is
# never started: apt runs under a policy-rc.d that refuses service starts.
# Idempotent: works on a fresh machine and on one where it already ran. Messages go to stderr.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ]; then
  echo "dovecot.sh: Dovecot $(dovecot --version) already installed ($(command -v dovecot))" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dovecot.sh: Dovecot is not installed and installing it needs root:" \
    "run 'sudo apt-get install dovecot-imapd' (or this script as root)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "dovecot.sh: Dovecot is not installed and there is no apt-get here:" \
    "install Dovecot's IMAP server (2.3) with this system's package manager" >&2
  exit 1
fi

# Keep apt from starting (or restarting) the system's dovecot service: policy-rc.d exit 101
# means "action forbidden" to invoke-rc.d. An existing policy-rc.d (containers have one) is kept.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from taskforce .ci/dovecot.sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  trap 'rm -f "$POLICY"' EXIT
fi

had_dovecot=$(command -v dovecot || true)
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt does not know the package yet (a fresh image).
if ! apt-cache show dovecot-imapd >/dev/null 2>&1 \
  || [ "$(apt-cache policy dovecot-imapd | awk '/Candidate:/ {print $2}')" = "(none)" ]; then
  apt-get update -qq >&2
fi
if ! apt-get install -y -qq --no-install-recommends dovecot-imapd >&2; then
  # Stale lists (a mirror dropped the old version): refresh once and try again.
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends dovecot-imapd >&2
fi
# On systemd, apt also enables the unit for the next boot: undo that for a Dovecot installed here
# (one that was there before, e.g. a developer's real mail server, is left alone).
if [ -z "$had_dovecot" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi

if ! command -v dovecot >/dev/null 2>&1; then
  echo "dovecot.sh: apt-get finished but there is still no dovecot binary" >&2
  exit 1
fi
echo "dovecot.sh: installed Dovecot $(dovecot --version) in $(($(date +%s) - start)) s" >&2
