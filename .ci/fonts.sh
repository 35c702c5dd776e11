#!/usr/bin/env bash
# Installs what the bulletin's PDF needs (tasks/consolidation/pdf.py): a font that covers Simplified
# Chinese (Debian's fonts-noto-cjk) and fontconfig, which WeasyPrint finds it through. Without them
# the consolidation still runs, and the leaders' mail says the PDF is missing and why.
# Idempotent: works on a fresh machine and on one where it already ran. apt only; messages to stderr.
set -euo pipefail

has_cjk_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh-cn family 2>/dev/null | head -n 1)" ]
}

if has_cjk_font; then
  echo "fonts.sh: a Chinese font is installed ($(fc-list :lang=zh-cn family | head -n 1))" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "fonts.sh: no Chinese font is installed and installing one needs root:" \
    "run 'sudo apt-get install fonts-noto-cjk fontconfig' (or this script as root)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "fonts.sh: no Chinese font is installed and there is no apt-get here:" \
    "install a CJK font (Noto Sans CJK SC, Source Han Sans SC) with this system's package manager" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
packages=(fonts-noto-cjk fontconfig)
if ! apt-cache show fonts-noto-cjk >/dev/null 2>&1 \
  || [ "$(apt-cache policy fonts-noto-cjk | awk '/Candidate:/ {print $2}')" = "(none)" ]; then
  apt-get update -qq >&2
fi
if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2; then
  apt-get update -qq >&2  # stale lists: refresh once and try again
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
fi
has_cjk_font || { echo "fonts.sh: fonts-noto-cjk installed, but fontconfig still lists no Chinese font" >&2; exit 1; }
echo "fonts.sh: installed fonts-noto-cjk in $(($(date +%s) - start)) s" >&2
