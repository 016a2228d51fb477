#!/usr/bin/env bash
# Build the spaCy pipeline and train the Rasa model when its inputs changed.
#
# The model is keyed by the content of everything training reads (config,
# domain, data, jieba dictionaries, the Rasa-side NLU components and spaCy
# builder, the Rasa lock file; not the channels or server patches, which
# training never loads)
# and kept in $SHOPBOT_CACHE_DIR/models, so an unchanged checkout, a fresh
# clone or a CI run reuses it. Prints the model's path as the last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=.venv/rasa/bin/python
. "$here/scripts/common.sh"
cache="$SHOPBOT_CACHE"
mkdir -p "$cache/models" models

"$py" -m shopbot_rasa.spacy_pipeline --out build/spacy_zh \
  --lookups data/nlu/lookups --userdict data/jieba >&2

key=$(
  {
    for f in config.yml domain.yml requirements/rasa.lock; do echo "$f"; cat "$f"; done
    find data/nlu data/stories data/jieba shopbot_rasa/nlu shopbot_rasa/spacy_pipeline.py -type f \
      \( -name '*.yml' -o -name '*.yaml' -o -name '*.txt' -o -name '*.py' \) \
      -not -path '*/__pycache__/*' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
  } | sha256sum | cut -c1-16
)
name="shopbot-$key"
model="models/$name.tar.gz"
if [ -f "$model" ]; then
  echo "==> model $model is up to date" >&2
elif [ -f "$cache/models/$name.tar.gz" ]; then
  cp "$cache/models/$name.tar.gz" "$model"
  [ ! -f "$cache/models/$name.train_seconds" ] || cp "$cache/models/$name.train_seconds" models/
  echo "==> model $model taken from the cache" >&2
else
  echo "==> training $model" >&2
  # The seconds of `rasa train` itself (not the wait for the lock) are kept
  # next to the model as NAME.train_seconds; `make bench` reports them.
  ( flock 9
    start=$EPOCHREALTIME
    "$py" -m rasa train --config config.yml --domain domain.yml --data data \
      --out models --fixed-model-name "$name" --quiet >&2
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' \
      >"models/$name.train_seconds"
  ) 9>"$cache/models/train.lock"
  [ -f "$model" ] || { echo "train.sh: training produced no model" >&2; exit 1; }
  echo "==> trained in $(cat "models/$name.train_seconds") s" >&2
  cp "$model" "$cache/models/$name.tar.gz.tmp" && mv "$cache/models/$name.tar.gz.tmp" "$cache/models/$name.tar.gz"
  cp "models/$name.train_seconds" "$cache/models/$name.train_seconds"
fi
ln -sfn "$name.tar.gz" models/current.tar.gz
echo "$here/$model"
