#!/usr/bin/env bash
# Print the path of a Python interpreter of version $1 (e.g. 3.10), or fail.
# Looks at the PATH first, then at pyenv's versions (whose shims refuse a
# version that is not selected).
set -euo pipefail
want="$1"
ok() { "$1" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" >/dev/null 2>&1; }
for cand in "python$want" "python3"; do
  if path=$(command -v "$cand" 2>/dev/null) && ok "$path"; then echo "$path"; exit 0; fi
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-${HOME:-}/.pyenv}")
for path in "$root"/versions/"$want"*/bin/python"$want" /usr/bin/python"$want" /usr/local/bin/python"$want"; do
  if [ -x "$path" ] && ok "$path"; then echo "$path"; exit 0; fi
done
echo "find-python: no Python $want found (install python$want)" >&2
exit 1
