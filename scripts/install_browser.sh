#!/usr/bin/env bash
# Make sure a headless Chromium is on this machine for the browser tests
# (tests/test_pages_in_browser.py). Idempotent: does nothing when one is found.
# Uses Debian's chromium package, never a browser build downloaded by a tool
# (e.g. `playwright install`), because only the package registries are reachable.
set -euo pipefail

find_chromium() {
  # $INTERLEAF_CHROMIUM wins so a developer can point at any Chromium build.
  if [ -n "${INTERLEAF_CHROMIUM:-}" ]; then
    if [ -x "$INTERLEAF_CHROMIUM" ]; then
      echo "$INTERLEAF_CHROMIUM"
      return 0
    fi
    return 1
  fi
  command -v chromium || command -v chromium-browser
}

if found=$(find_chromium); then
  echo "install_browser: chromium already installed at $found"
  exit 0
fi

if [ -n "${INTERLEAF_CHROMIUM:-}" ]; then
  echo "install_browser: INTERLEAF_CHROMIUM=$INTERLEAF_CHROMIUM is not an executable file" >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<'EOF'
install_browser: chromium not found, and this script can only install it as root with apt-get.
Install it yourself, then rerun the tests:
  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium
  elsewhere:      install Chromium and export INTERLEAF_CHROMIUM=/path/to/chromium
EOF
  exit 1
fi

# Update the package lists only when they do not know chromium yet (a fresh
# image ships none), so a warm machine does not hit the mirror for nothing.
candidate=$(apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
  apt-get update -q
fi
install_chromium() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }
# A stale list names versions the mirror no longer has (404): refresh once and retry.
if ! install_chromium; then
  apt-get update -q
  install_chromium
fi
if ! found=$(find_chromium); then
  echo "install_browser: apt-get installed chromium, but no chromium is on PATH ($PATH)" >&2
  exit 1
fi
echo "install_browser: installed chromium at $found"
