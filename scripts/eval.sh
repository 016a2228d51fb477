#!/usr/bin/env bash
# NLU evaluation: `rasa test nlu` of a trained model on FILE, reports in DIR.
#
#   scripts/eval.sh FILE DIR [MODEL]
#
# MODEL defaults to models/current.tar.gz (what scripts/train.sh last linked),
# so `make test` evaluates the model it has just trained. With
# NLU_MIN_ACCURACY set, exits 1 when the accuracy is below it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
nlu="$1"; out="$2"; model="${3:-models/current.tar.gz}"
cd "$here"
[ -f "$nlu" ] || { echo "eval: no such file: $nlu" >&2; exit 2; }
[ -f "$model" ] || { echo "eval: no such model: $model" >&2; exit 2; }
mkdir -p "$out"
RASA_TELEMETRY_ENABLED=false .venv/rasa/bin/python -m rasa test nlu --nlu "$nlu" --model "$model" \
  --out "$out" --successes --quiet >"$out/rasa_test.log" 2>&1 \
  || { tail -20 "$out/rasa_test.log" >&2; exit 1; }
gate=()
[ -n "${NLU_MIN_ACCURACY:-}" ] && gate=(--min-accuracy "$NLU_MIN_ACCURACY")
.venv/rasa/bin/python scripts/nlu_report.py "$out" --markdown "$out/report.md" "${gate[@]}"
