#!/usr/bin/env bash
# Make sure the environment NAME (rasa | bot) exists and is up to date, and
# point .venv/NAME at it.
#
# Environments live in a cache outside the checkout, one per lock file
# content and Python version, so fresh clones and CI runs on this machine
# reuse them: $SHOPBOT_CACHE_DIR (default ~/.cache/shopbot)/venvs/NAME-KEY.
set -euo pipefail
name="$1"
here=$(cd "$(dirname "$0")/.." && pwd)
case "$name" in
  rasa) version=3.10 ;;
  bot) version=3.11 ;;
  *) echo "venv.sh: unknown environment $name" >&2; exit 2 ;;
esac
lock="$here/requirements/$name.lock"
python=$("$here/scripts/find-python.sh" "$version")
. "$here/scripts/common.sh"
cache="$SHOPBOT_CACHE"
key=$( { cat "$lock"; "$python" -VV; } | sha256sum | cut -c1-16)
target="$cache/venvs/$name-$key"
mkdir -p "$cache/venvs" "$here/.venv"
(
  flock 9
  if [ ! -f "$target/.complete" ]; then
    echo "==> creating the $name environment (Python $version) in $target" >&2
    rm -rf "$target"
    "$python" -m venv "$target"
    quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
    "$target/bin/python" -m pip install --quiet --upgrade "pip==24.3.1" 2>&1 | quiet
    "$target/bin/python" -m pip install --quiet -r "$lock" 2>&1 | quiet
    "$target/bin/python" -m pip check >&2
    touch "$target/.complete"
  fi
) 9>"$target.lock"
ln -sfn "$target" "$here/.venv/$name"
