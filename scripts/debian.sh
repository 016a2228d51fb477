#!/usr/bin/env bash
# Make sure the project's Debian packages are installed (`make test` runs this):
#   chromium, chromium-driver  the browser tests of the web widget and its
#                              benchmark (Playwright drives /usr/bin/chromium;
#                              it never downloads a browser)
#   fonts-wqy-zenhei           a Chinese font, so screenshots show the UI's text
#   nginx-light                the load balancer of the production topology
#                              (`make run-prod`, tests/e2e/test_topology.py)
#   docker-compose             `docker-compose config` checks docker-compose.yml
#                              (unless Docker's own `docker compose` plugin is there)
# Installs what is missing with apt-get when this runs as root; otherwise says
# what to do and fails (a missing font only warns).
set -euo pipefail
have_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }
have_compose() {
  command -v docker-compose >/dev/null || { command -v docker >/dev/null && docker compose version >/dev/null 2>&1; }
}
check() {  # check PACKAGE: is what the project uses of PACKAGE there?
  case "$1" in
    chromium) [ -x /usr/bin/chromium ] ;;
    chromium-driver) [ -x /usr/bin/chromedriver ] ;;
    fonts-wqy-zenhei) have_font ;;
    nginx-light) [ -x /usr/sbin/nginx ] ;;
    docker-compose) have_compose ;;
  esac
}
packages=(chromium chromium-driver fonts-wqy-zenhei nginx-light docker-compose)
missing=()
for package in "${packages[@]}"; do check "$package" || missing+=("$package"); done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  missing=()
  for package in "${packages[@]}"; do check "$package" || missing+=("$package"); done
fi
failed=()
for package in "${missing[@]}"; do
  if [ "$package" = fonts-wqy-zenhei ]; then
    echo "debian.sh: no Chinese font (apt-get install fonts-wqy-zenhei): screenshots show boxes" >&2
  else
    failed+=("$package")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "debian.sh: missing Debian packages: ${failed[*]}; as root run: apt-get install ${failed[*]}" >&2
  exit 1
fi
exit 0
