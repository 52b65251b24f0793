#!/usr/bin/env bash
# Opens every built chapter page in headless Chromium (Debian's package, installed here if missing),
# checks that it renders with its figures, and keeps a screenshot of each page in the build output. A page that
# shows a Python warning, names a folder of the build machine, or holds a script or event handler in a chapter's
# output fails too (clipstudy/htmlcheck.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium ..."
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
exec .venv/bin/python -m clipstudy.htmlcheck book/_build/html
