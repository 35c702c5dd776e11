#!/usr/bin/env bash
# Installs Debian's LibreOffice Calc (headless, no GUI) and its Python-UNO bridge for the
# spreadsheet round-trip and print tests (tests/forms/test_libreoffice*.py, tests/consolidation/
# test_print*.py): they open our forms in a real spreadsheet program, type into them, save, and
# convert them to PDF to count pages. apt only; poppler-utils gives pdftotext/pdftoppm.
# Idempotent: works on a fresh machine and on one where it already ran. Messages go to stderr.
set -euo pipefail

packages=(libreoffice-calc-nogui python3-uno poppler-utils fonts-noto-cjk)
have_all() {
  command -v soffice >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 \
    && dpkg -s python3-uno fonts-noto-cjk >/dev/null 2>&1
}
if have_all; then
  echo "libreoffice.sh: $(soffice --version 2>/dev/null | head -n 1) already installed" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "libreoffice.sh: LibreOffice is not installed and installing it needs root:" \
    "run 'sudo apt-get install ${packages[*]}' (or this script as root)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "libreoffice.sh: LibreOffice is not installed and there is no apt-get here:" \
    "install LibreOffice Calc with this system's package manager" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
if [ "$(apt-cache policy libreoffice-calc-nogui 2>/dev/null | awk '/Candidate:/ {print $2}')" = "" ] \
  || [ "$(apt-cache policy libreoffice-calc-nogui | awk '/Candidate:/ {print $2}')" = "(none)" ]; then
  apt-get update -qq >&2
fi
if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2; then
  apt-get update -qq >&2  # stale lists: refresh once and try again
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
fi
have_all || { echo "libreoffice.sh: still no soffice, pdftotext or python3-uno" >&2; exit 1; }
echo "libreoffice.sh: installed $(soffice --version | head -n 1) in $(($(date +%s) - start)) s" >&2
