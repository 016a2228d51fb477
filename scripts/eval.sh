#!/usr/bin/env bash
# NLU evaluation: `rasa test nlu` of the current model on FILE, reports in DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
nlu="$1"; out="$2"
cd "$here"
[ -f "$nlu" ] || { echo "eval: no such file: $nlu" >&2; exit 2; }
mkdir -p "$out"
.venv/rasa/bin/python -m rasa test nlu --nlu "$nlu" --model models/current.tar.gz \
  --out "$out" --quiet >"$out/rasa_test.log" 2>&1 || { tail -20 "$out/rasa_test.log" >&2; exit 1; }
.venv/rasa/bin/python scripts/nlu_report.py "$out/intent_report.json"
