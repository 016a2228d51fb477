#!/usr/bin/env bash
# Run tests/test_stories.yml against a trained model: every user text must get
# its intent and entities, and every bot action must be predicted as written.
# Usage: scripts/test_stories.sh [MODEL]   (default: the model train.sh names)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
model="${1:-$(scripts/train.sh | tail -n 1)}"
out="$here/results/stories"
rm -rf "$out"
PYTHONWARNINGS=ignore .venv/rasa/bin/python -m rasa test core --model "$model" \
  --stories tests/test_stories.yml --fail-on-prediction-errors --out "$out" --quiet
stories=$(grep -c '^  - story:' tests/test_stories.yml)
echo "test stories: all $stories passed (report in $out)"
