#!/usr/bin/env bash
# K-fold cross-validation of the NLU pipeline on the training data.
#
#   scripts/crossval.sh [FOLDS] [DIR]
#
# Trains FOLDS models (about two minutes each on this machine), so it is not
# part of `make test`. Prints the summary of the merged test folds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
folds="${1:-5}"; out="${2:-results/crossval}"
cd "$here"
py=.venv/rasa/bin/python
"$py" -m shopbot_rasa.spacy_pipeline --out build/spacy_zh \
  --lookups data/nlu/lookups --userdict data/jieba >&2
mkdir -p "$out"
start=$(date +%s)
RASA_TELEMETRY_ENABLED=false "$py" -m rasa test nlu --nlu data/nlu --config config.yml \
  --cross-validation --folds "$folds" --out "$out" --quiet >"$out/rasa_test.log" 2>&1 \
  || { tail -20 "$out/rasa_test.log" >&2; exit 1; }
echo "cross-validation: $folds folds in $(( $(date +%s) - start )) s"
"$py" scripts/nlu_report.py "$out" --markdown "$out/report.md"
