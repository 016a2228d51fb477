# shopbot tasks. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

RASA_PORT ?= 5005
ACTION_PORT ?= 5055
SHOP_PORT ?= 8080
IM_PORT ?= 5056
ASSIST_PORT ?= 8090
# `make run-prod`: how many Rasa server and action server processes.
RASA_PROCS ?= 2
ACTION_PROCS ?= 2
# `make run-prod DEMO=0`: no demo orders, the real date.
DEMO ?= 1
NLU ?= ../shared/eval/nlu_dev.yml
OUT ?= results/eval
# The accuracy gate of `make test` on the dev set (scripts/test.sh).
NLU_MIN_ACCURACY ?= 0.85
# `make scenarios`: a scenario file or a folder of them.
FILE ?= tests/scenarios/
export NLU_MIN_ACCURACY
export PYTHONPATH := $(CURDIR)

.PHONY: help run run-prod test train chat stories eval crossval curve lint types venvs validate token bench bench-domain bench-widget bench-assist bench-parse bench-im scenarios

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venvs: ## create or update both Python environments (cached by lock file)
	@scripts/venv.sh rasa
	@scripts/venv.sh bot

run: ## install, train if needed, load demo orders, serve the bot, the shop demo page, the agent console (and the IM worker when SHOPBOT_IM_* are set); Ctrl-C stops
	@RASA_PORT=$(RASA_PORT) ACTION_PORT=$(ACTION_PORT) SHOP_PORT=$(SHOP_PORT) IM_PORT=$(IM_PORT) ASSIST_PORT=$(ASSIST_PORT) scripts/run.sh

run-prod: ## production topology here: RASA_PROCS Rasa + ACTION_PROCS action servers behind nginx, PostgreSQL/Redis/RabbitMQ at 127.0.0.1; Ctrl-C stops
	@scripts/venv.sh rasa
	@scripts/venv.sh bot
	@model=$$(scripts/train.sh | tail -n 1) && RASA_PORT=$(RASA_PORT) ACTION_PORT=$(ACTION_PORT) SHOP_PORT=$(SHOP_PORT) IM_PORT=$(IM_PORT) ASSIST_PORT=$(ASSIST_PORT) RASA_PROCS=$(RASA_PROCS) ACTION_PROCS=$(ACTION_PROCS) .venv/bot/bin/python scripts/run_prod.py --model "$$model" $(if $(filter 0,$(DEMO)),--no-demo)

test: ## run the whole test suite (unit, Rasa side, data validation, end to end)
	@scripts/test.sh

train: venvs ## build the spaCy pipeline and train the model if inputs changed
	@scripts/train.sh

chat: ## talk to the running bot in the terminal as the demo buyer
	@bin/shopbot chat --url http://127.0.0.1:$(RASA_PORT) --buyer buyer_001

stories: train ## run tests/test_stories.yml (NLU + dialogue, fails on any prediction error)
	@scripts/test_stories.sh

eval: train ## NLU report on NLU=FILE into OUT=DIR (accuracy, macro-F1, per intent)
	@NLU_MIN_ACCURACY= scripts/eval.sh "$(NLU)" "$(OUT)"

crossval: venvs ## 5-fold cross-validation of the NLU on the training data (slow, not in CI)
	@scripts/crossval.sh $${FOLDS:-5} results/crossval

curve: train ## fallback threshold curve on NLU=FILE into OUT=DIR (table + PNG)
	@.venv/rasa/bin/python scripts/threshold_curve.py --nlu "$(NLU)" --out "$(OUT)"

validate: venvs ## rasa data validate
	@.venv/rasa/bin/python scripts/validate_data.py

lint: venvs ## ruff on all Python code
	@.venv/bot/bin/ruff check bot actions shopbot_rasa tests scripts
	@.venv/bot/bin/ruff format --check bot actions shopbot_rasa tests scripts

types: venvs ## mypy on bot/
	@.venv/bot/bin/mypy bot

scenarios: train ## run scenario files against the real servers (FILE=file or folder, default tests/scenarios/)
	@.venv/bot/bin/python scripts/scenarios.py "$(FILE)"

bench: train ## load benchmark: conversations with custom actions vs a bare Rasa bot at 1/8/32/128 concurrent (BENCH_SECONDS=20 per level, BENCH_ARGS=--train)
	@.venv/bot/bin/python scripts/bench.py --seconds $${BENCH_SECONDS:-20} $${BENCH_ARGS:-}

bench-domain: venvs ## benchmark the domain core: decisions/s, lookup+decision (SQLite, PG_URL=...), 100k import
	@.venv/bot/bin/python scripts/bench_domain.py $${PG_URL:+--pg-url "$$PG_URL"}
bench-widget: train ## benchmark: web widget, page load to first bot message in Chromium (N=20)
	@scripts/debian.sh
	@.venv/bot/bin/python scripts/bench_widget.py -n $${N:-20}

bench-assist: train ## benchmark: agent assistant, median and p99 latency of /assist/suggest (N=200)
	@.venv/bot/bin/python scripts/bench_assist.py -n $${N:-200}

bench-im: train ## benchmark: IM channel, webhook ack and reply-at-callback latency vs a bare Rasa turn (N=100)
	@.venv/bot/bin/python scripts/bench_im.py -n $${N:-100}

bench-parse: train ## benchmark: /model/parse latency of the trained model (N=300)
	@.venv/rasa/bin/python scripts/bench_parse.py -n $${N:-300}

token: venvs ## print a demo buyer token (SUB=buyer_001 ROLE=buyer)
	@bin/shopbot token $${SUB:-buyer_001} --role $${ROLE:-buyer}
