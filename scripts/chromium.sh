#!/usr/bin/env bash
# Make sure Debian's headless Chromium is there for the browser tests
# (tests/e2e/test_widget.py drives /usr/bin/chromium with Playwright; no
# browser is ever downloaded by Playwright), with a Chinese font so that the
# screenshots show the UI's text. Installs the Debian packages with apt-get
# when they are missing and this runs as root; without Chromium otherwise says
# what to do and fails (a missing font only warns).
set -euo pipefail
chromium=/usr/bin/chromium
have_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }
missing=()
[ -x "$chromium" ] || missing+=(chromium)
have_font || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian packages for the browser tests: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [ ! -x "$chromium" ]; then
  echo "chromium.sh: $chromium is missing; as root run: apt-get install chromium" >&2
  exit 1
fi
have_font || echo "chromium.sh: no Chinese font (apt-get install fonts-wqy-zenhei): screenshots show boxes" >&2
exit 0
