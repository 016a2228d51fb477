#!/usr/bin/env bash
# `make test`: every check of the project, in both Python environments.
# Exits non-zero when any stage fails (pytest's "no tests ran" included) and
# ends with one summary line "tests: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PYTHONPATH="$here"
# The NLU gate: accuracy on the dev set below this fails the suite.
NLU_MIN_ACCURACY="${NLU_MIN_ACCURACY:-0.85}"
NLU_DEV="${NLU_DEV:-../shared/eval/nlu_dev.yml}"
results="$here/results/tests"
rm -rf "$results"; mkdir -p "$results"
failed_stages=()

stage() {  # stage NAME COMMAND...
  local name="$1"; shift
  echo "==> $name"
  local start=$SECONDS
  "$@"
  local rc=$?
  echo "    $name: exit $rc in $(( SECONDS - start )) s"
  [ $rc -eq 0 ] || failed_stages+=("$name")
  return 0
}

stage "environments" bash -c "scripts/venv.sh rasa && scripts/venv.sh bot" || exit 1
[ ${#failed_stages[@]} -eq 0 ] || { echo "tests: 0 passed, 1 failed"; exit 1; }

stage "lint (ruff)" bash -c ".venv/bot/bin/ruff check bot actions shopbot_rasa tests scripts && .venv/bot/bin/ruff format --check bot actions shopbot_rasa tests scripts"
stage "types (mypy bot/)" .venv/bot/bin/mypy bot
# Before the tests: nginx (tests/bot/test_topology.py), docker-compose
# (tests/deploy), Chromium (the widget tests).
stage "Debian packages (chromium, chromium-driver, fonts-wqy-zenhei, nginx-light, docker-compose)" scripts/debian.sh
stage "unit tests (bot, actions, deploy; Python 3.11)" \
  .venv/bot/bin/python -m pytest -q tests/bot tests/actions tests/data tests/deploy --junitxml="$results/bot.xml"
stage "Rasa-side tests (Python 3.10)" \
  .venv/rasa/bin/python -m pytest -q tests/rasa --junitxml="$results/rasa.xml"
stage "rasa data validate" .venv/rasa/bin/python scripts/validate_data.py
model=$(scripts/train.sh | tail -n 1)
if [ -f "$model" ]; then
  # Evaluates the model just trained (no second training).
  stage "NLU on $NLU_DEV (accuracy >= $NLU_MIN_ACCURACY)" env NLU_MIN_ACCURACY="$NLU_MIN_ACCURACY" \
    scripts/eval.sh "$NLU_DEV" "$here/results/eval" "$model"
  stage "test stories (NLU + dialogue, rasa test --fail-on-prediction-errors)" \
    scripts/test_stories.sh "$model"
  stage "end-to-end tests (real servers)" env SHOPBOT_TEST_MODEL="$model" \
    .venv/bot/bin/python -m pytest -q tests/e2e --junitxml="$results/e2e.xml"
else
  failed_stages+=("training")
fi

summary=$(.venv/bot/bin/python - "$results" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for f in pathlib.Path(sys.argv[1]).glob("*.xml"):
    for s in ET.parse(f).getroot().iter("testsuite"):
        t, fl, er, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        passed += t - fl - er - sk; failed += fl + er; skipped += sk
print(passed, failed, skipped)
PY
)
read -r passed failed skipped <<<"$summary"
failed=$(( failed + ${#failed_stages[@]} ))
if [ ${#failed_stages[@]} -gt 0 ]; then
  echo "failed stages: ${failed_stages[*]}"
fi
[ "$passed" -gt 0 ] || { echo "no test ran"; failed=$(( failed + 1 )); }
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
