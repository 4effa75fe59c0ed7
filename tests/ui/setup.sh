#!/usr/bin/env bash
# Installs what the browser test of `tamp ui` (browser_test.js) needs: Debian's Chromium and
# its chromedriver (no npm package: the test speaks WebDriver over HTTP with Node's fetch).
# Idempotent: does nothing when both are there.
set -euo pipefail
missing=()
for p in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tests/ui/setup.sh: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
