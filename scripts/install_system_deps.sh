#!/usr/bin/env bash
# Debian packages the project needs, installed only when missing:
#   bubblewrap               the grading sandbox (gradebot)
#   chromium chromium-driver the web page test (headless, driven by Selenium)
#   redis-server postgresql  the distributed backend's tests (started by scripts/start_services.sh)
set -euo pipefail
packages=(bubblewrap chromium chromium-driver redis-server postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
