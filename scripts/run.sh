#!/usr/bin/env bash
# `make run`: prepare everything and serve the bot in the foreground.
#   environments -> spaCy pipeline + model (trained only when inputs changed)
#   -> SQLite schema (Alembic) + demo orders -> action server + Rasa server
#   -> the demo shop page with the chat widget (bot/demo_shop.py)
#   -> the agent assistant and its console (bot/assist/app.py); Rasa's HTTP
#      API is on for it, protected by a token (SHOPBOT_RASA_TOKEN, or a
#      development one in the var folder), and agents use SHOPBOT_AGENT_TOKEN
#      (a development one when unset, printed with the console's address).
# Ctrl-C stops everything this script started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
RASA_PORT="${RASA_PORT:-5005}"
ACTION_PORT="${ACTION_PORT:-5055}"
SHOP_PORT="${SHOP_PORT:-8080}"
IM_PORT="${IM_PORT:-5056}"
# The store IM channel runs only when its secret and callback URL are set.
im_on=""
[ -n "${SHOPBOT_IM_SECRET:-}" ] && [ -n "${SHOPBOT_IM_CALLBACK_URL:-}" ] && im_on=1
export SHOPBOT_RASA_URL="http://127.0.0.1:$RASA_PORT"
export SHOPBOT_IM_WORKER_URL="http://127.0.0.1:$IM_PORT"
ASSIST_PORT="${ASSIST_PORT:-8090}"
# The demo shop's page is the browser origin the bot accepts (add real shops').
export SHOPBOT_CORS_ORIGINS="${SHOPBOT_CORS_ORIGINS:-http://127.0.0.1:$SHOP_PORT,http://localhost:$SHOP_PORT}"
export SHOPBOT_ACTION_PORT="$ACTION_PORT"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
# The demo orders are dated around this day; pin it unless told otherwise.
export SHOPBOT_TODAY="${SHOPBOT_TODAY:-2026-11-24}"
logs="${SHOPBOT_VAR_DIR:-$here/var}/log"
# Rasa's dependencies are chatty at import; keep the terminal readable.
export PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1

scripts/venv.sh rasa
scripts/venv.sh bot
model=$(scripts/train.sh | tail -n 1)
[ -f "$model" ] || { echo "run.sh: no trained model" >&2; exit 1; }
bin/shopbot db import data/demo/orders.yaml
rasa_token=$(bin/shopbot dev-token rasa)
export SHOPBOT_AGENT_TOKEN="${SHOPBOT_AGENT_TOKEN:-$(bin/shopbot dev-token agent)}"

pids=()
cleanup() {
  trap - INT TERM HUP EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "shopbot stopped."
}
trap cleanup INT TERM HUP EXIT

mkdir -p "$logs"
.venv/bot/bin/python -m rasa_sdk --actions actions --port "$ACTION_PORT" \
  >"$logs/actions.log" 2>&1 &
pids+=($!)
.venv/rasa/bin/python -m shopbot_rasa.server run --model "$model" --credentials credentials.yml \
  --endpoints endpoints.yml --port "$RASA_PORT" --interface 127.0.0.1 \
  --enable-api --auth-token="$rasa_token" \
  --log-file "$logs/rasa.log" >"$logs/rasa.out" 2>&1 &
pids+=($!)

if [ -n "$im_on" ]; then
  .venv/bot/bin/python -m bot.im_worker --port "$IM_PORT" >"$logs/im_worker.log" 2>&1 &
  pids+=($!)
fi

.venv/bot/bin/python -m bot.demo_shop --port "$SHOP_PORT" \
  --bot-url "http://127.0.0.1:$RASA_PORT" \
  --evidence-url "http://127.0.0.1:$ASSIST_PORT/evidence/upload" >"$logs/demo_shop.log" 2>&1 &
pids+=($!)

SHOPBOT_RASA_TOKEN="$rasa_token" .venv/bot/bin/python -m bot.assist.app --port "$ASSIST_PORT" \
  >"$logs/assist.log" 2>&1 &
pids+=($!)

.venv/bot/bin/python -m bot.devtools wait-http "http://127.0.0.1:$ACTION_PORT/health" 120 \
  || { tail -n 20 "$logs/actions.log" >&2; exit 1; }
.venv/bot/bin/python -m bot.devtools wait-http "http://127.0.0.1:$RASA_PORT/webhooks/shop/" 300 \
  || { tail -n 20 "$logs/rasa.out" >&2; exit 1; }
.venv/bot/bin/python -m bot.devtools wait-http "http://127.0.0.1:$SHOP_PORT/" 30 \
  || { tail -n 20 "$logs/demo_shop.log" >&2; exit 1; }
if [ -n "$im_on" ]; then
  .venv/bot/bin/python -m bot.devtools wait-http "http://127.0.0.1:$IM_PORT/health" 60 \
    || { tail -n 20 "$logs/im_worker.log" >&2; exit 1; }
  im_line="  IM channel:            http://127.0.0.1:$RASA_PORT/webhooks/im/webhook (worker log: $logs/im_worker.log)"
else
  im_line="  IM channel:            off (set SHOPBOT_IM_SECRET and SHOPBOT_IM_CALLBACK_URL)"
fi
.venv/bot/bin/python -m bot.devtools wait-http "http://127.0.0.1:$ASSIST_PORT/assist/health" 60 \
  || { tail -n 20 "$logs/assist.log" >&2; exit 1; }
token=$(bin/shopbot token buyer_001 --ttl 86400)
cat <<MSG

shopbot is running (demo buyer buyer_001, today pinned to $SHOPBOT_TODAY).
  shop demo page with the chat widget:  http://127.0.0.1:$SHOP_PORT/
  chat in the terminal:  make chat
  shop channel:          http://127.0.0.1:$RASA_PORT/webhooks/shop/webhook
$im_line
  agent console (the token after # stays in the browser):
    http://127.0.0.1:$ASSIST_PORT/console/?conversation=demo-1&buyer=buyer_001#token=$SHOPBOT_AGENT_TOKEN
  assistant API:         http://127.0.0.1:$ASSIST_PORT/assist/openapi.json
  try it:
curl -s -X POST http://127.0.0.1:$RASA_PORT/webhooks/shop/webhook -H 'Content-Type: application/json' -H 'Authorization: Bearer $token' -d '{"sender": "demo-1", "message": "我的订单2026111000001的衣服太大了"}'

Logs: $logs/rasa.log, $logs/actions.log, $logs/demo_shop.log, $logs/assist.log. Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
echo "a server stopped; see $logs/" >&2
