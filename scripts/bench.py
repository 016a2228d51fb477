"""Load benchmark: buyer conversations with custom actions against a bare Rasa bot.

Starts the real servers with the demo orders (``--profile local``: one Rasa
process and one action server on SQLite, as the end-to-end tests do) and, in
the same run, a bare Rasa server of the same model with no action server.
At each concurrency level (1, 8, 32 and 128 conversations in flight) it
drives, through the ``shop`` channel:

* on the bot: scripted multi-turn conversations of the demo buyers in which
  every message is answered by a custom action, nearly all reading the
  order database (size return and its postage, three-guarantee repair, an
  overdue refund, order status and invoice, a claim offered and declined...);
* on the bare bot: conversations answered by ``domain.yml`` responses alone
  (greeting, "ok", thanks, goodbye; no custom action, no action server; the
  first message of each conversation also runs Rasa's session start, which
  is shopbot's custom ``action_session_start`` in this model: with no action
  server it fails at once and Rasa logs it and goes on, so the median of
  first messages and of later ones are given apart);

each conversation under its own sender id, each message waiting for its
answer. It prints median, 95th and 99th percentile latency and messages per
second per level for both and their ratio, the training time of the model,
the start-up time of each server and the resident memory of every process,
and writes them to ``results/bench.json``. Figures, not assertions.

``--profile prod`` measures the production topology on this machine instead
(:class:`bot.topology.Topology`: ``--rasa-procs`` Rasa processes and
``--action-procs`` action servers behind nginx, PostgreSQL, Redis, RabbitMQ
and the event consumer; see :func:`run_prod`). The load itself
(:func:`bot.devtools.drive_conversations`) takes any base URL, and the CPU
and memory figures any set of process ids (:func:`measure`).

``make bench`` (``BENCH_SECONDS=`` per level and kind, default 20;
``BENCH_ARGS="--train"`` also times a fresh training, ``BENCH_ARGS="--profile
prod"`` the production topology).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import httpx
import yaml

from bot.devtools import (
    DEMO_TODAY,
    RASA_PYTHON,
    ScriptedConversation,
    Stack,
    cpu_seconds,
    delete_rabbitmq_queue,
    drive_conversations,
    process_memory,
)
from bot.settings import PROJECT_ROOT, load_rabbitmq_settings

SECRET = "bench-secret-not-for-production-0123456789"  # noqa: S105 - local benchmark
LEVELS = (1, 8, 32, 128)

#: Conversations of the demo buyers (data/demo/orders.yaml) whose every
#: message is answered by a custom action reading the order database.
CUSTOM: Sequence[ScriptedConversation] = (
    ScriptedConversation(
        "size_return",
        "buyer_001",
        ("我的订单2026111000001的衣服太大了", "退货运费谁出", "不用了", "这个订单的快递到哪了"),
    ),
    ScriptedConversation(
        "three_guarantees",
        "buyer_001",
        ("订单2026092100003的空调不制冷了，是质量问题", "保修期多久", "算了不用了"),
    ),
    ScriptedConversation(
        "refund_overdue",
        "buyer_001",
        ("订单2026110200012退款到哪一步了", "这个订单的售后进度怎么样了"),
    ),
    ScriptedConversation(
        "order_status",
        "buyer_002",
        ("帮我查一下订单2026112100102", "什么时候能到", "这单能开发票吗"),
    ),
    ScriptedConversation(
        "postage",
        "buyer_002",
        ("订单2026110500101的卫衣不想要了，运费谁出", "订单2026110500101什么时候签收的"),
    ),
    ScriptedConversation(
        "quality_claim_offer",
        "buyer_002",
        ("订单2026101500103的耳机有杂音", "运费谁出", "不用了"),
    ),
    ScriptedConversation(
        "not_yet_received",
        "buyer_001",
        ("订单2026111900011还没确认收货能退吗", "多久能退款"),
    ),
)

#: Conversations answered by domain.yml responses alone (rules of
#: data/stories/rules.yml: greet, affirm/deny without a pending question,
#: thank, goodbye).
BARE: Sequence[ScriptedConversation] = (
    ScriptedConversation("greet_thanks", "buyer_001", ("你好", "好的", "谢谢", "再见")),
    ScriptedConversation("hello_bye", "buyer_002", ("在吗", "不用了", "谢谢你", "拜拜")),
)


def arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "current.tar.gz")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "bench.json")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level and kind")
    parser.add_argument(
        "--levels", default=",".join(map(str, LEVELS)), help="concurrent conversations"
    )
    parser.add_argument("--train", action="store_true", help="also time a fresh training")
    parser.add_argument(
        "--profile",
        choices=("local", "prod"),
        default="local",
        help="local: one Rasa process and one action server on SQLite; prod: the "
        "production topology on this machine (nginx, PostgreSQL, Redis, RabbitMQ)",
    )
    parser.add_argument("--rasa-procs", type=int, default=2, help="prod: Rasa processes")
    parser.add_argument("--action-procs", type=int, default=2, help="prod: action servers")
    return parser.parse_args(argv)


def load_average() -> List[float]:
    """Return the 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def recorded_training_seconds(model: Path) -> Optional[float]:
    """Return the seconds of the training that produced ``model``, if recorded.

    ``scripts/train.sh`` writes them next to the model as
    ``NAME.train_seconds`` (``models/current.tar.gz`` is a link to the model).
    """
    real = model.resolve()
    record = real.with_name(real.name.removesuffix(".tar.gz") + ".train_seconds")
    try:
        return float(record.read_text().strip())
    except (OSError, ValueError):
        return None


def time_training() -> float:
    """Train the model once into a temporary folder; return the seconds it took."""
    with tempfile.TemporaryDirectory(prefix="shopbot-bench-train-") as out:
        started = time.monotonic()
        subprocess.run(
            [
                *(str(RASA_PYTHON), "-m", "rasa", "train", "--config", "config.yml"),
                *("--domain", "domain.yml", "--data", "data", "--out", out, "--quiet"),
            ],
            cwd=PROJECT_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.monotonic() - started


def custom_actions() -> set[str]:
    """The custom actions of domain.yml."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {str(name) for name in domain.get("actions") or ()}


def _actions_per_message(events: Sequence[Mapping[str, Any]]) -> List[List[str]]:
    """The actions that ran after each user message (action_listen left out)."""
    turns: List[List[str]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append([])
        elif event.get("event") == "action" and turns and event.get("name") != "action_listen":
            turns[-1].append(str(event.get("name")))
    return turns


def preflight(
    url: str, rasa_token: str, script: Sequence[ScriptedConversation], custom: bool
) -> Dict[str, List[List[str]]]:
    """Run each conversation once; check that every message is answered as intended.

    With ``custom``, every message must be answered by a custom action of
    ``domain.yml``; otherwise by none. The actions come from Rasa's tracker
    (its HTTP API, with ``rasa_token``).

    Returns:
        The actions that answered each message, by conversation.

    Raises:
        RuntimeError: A message was not answered, or not as intended.
    """
    own = custom_actions()
    seen: Dict[str, List[List[str]]] = {}
    label = f"preflight-{secrets.token_hex(3)}"
    result = asyncio.run(drive_conversations(url, SECRET, script, len(script), 0, label, each=1))
    if result.errors or len(result.latencies_ms) != sum(len(c.messages) for c in script):
        raise RuntimeError(f"preflight: messages not answered: {result.first_errors}")
    for index, conversation in enumerate(script):
        reply = httpx.get(
            f"{url}/conversations/{label}-{index}-0/tracker",
            params={"token": rasa_token},
            timeout=30,
        )
        reply.raise_for_status()
        actions = _actions_per_message(reply.json().get("events") or [])
        seen[conversation.name] = actions
        if len(actions) != len(conversation.messages):
            raise RuntimeError(f"preflight: {conversation.name}: {len(actions)} user messages")
        for text, ran in zip(conversation.messages, actions, strict=True):
            if custom != any(name in own for name in ran):
                kind = "a custom action" if custom else "domain responses only"
                raise RuntimeError(
                    f"preflight: {conversation.name}: {text!r} was not answered by {kind}: {ran}"
                )
    return seen


def measure(
    url: str,
    pids: Mapping[str, int],
    script: Sequence[ScriptedConversation],
    levels: Sequence[int],
    seconds: float,
    label: str,
) -> Dict[str, Any]:
    """Drive ``script`` at each level against ``url``; return the figures per level.

    Args:
        url: Base URL of the bot (a Rasa server, or a load balancer).
        pids: The processes serving it by name (their CPU time per message
            at each level, their memory after the load).
        script: The conversations.
        levels: Conversations in flight at once, one run per level.
        seconds: How long each level keeps starting messages.
        label: Part of the sender ids.
    """
    figures: Dict[str, Any] = {}
    for level in levels:
        cpu, servers = time.process_time(), cpu_seconds(pids)
        load = asyncio.run(
            drive_conversations(url, SECRET, script, level, seconds, f"{label}-{level}")
        )
        used = cpu_seconds(pids)
        turns = max(1, len(load.latencies_ms) + load.errors)
        figures[str(level)] = {
            **load.summary(),
            "cpu_ms_per_message": {
                name: round((used[name] - servers.get(name, 0.0)) * 1000 / turns, 1)
                for name in used
            },
            "load_generator_cpu_s": round(time.process_time() - cpu, 1),
            "first_errors": load.first_errors,
        }
    return {"levels": figures, "memory": process_memory(pids)}


@dataclass
class Target:
    """Where one kind of conversation is sent, and which processes serve it.

    Attributes:
        url: The base URL buyers reach (a Rasa server, or nginx).
        pids: The serving processes by name (CPU per message, memory).
        rasa_token: The Rasa HTTP API's token (the preflight reads trackers).
        startup_s: Start-up seconds of each server.
    """

    url: str
    pids: Dict[str, int]
    rasa_token: str
    startup_s: Dict[str, float]


def compare(bot: Target, bare: Target, levels: Sequence[int], seconds: float) -> Dict[str, Any]:
    """Check both targets' answers, then drive both level by level; print a row per level."""
    run = secrets.token_hex(3)
    actions = {
        "custom": preflight(bot.url, bot.rasa_token, CUSTOM, True),
        "bare": preflight(bare.url, bare.rasa_token, BARE, False),
    }
    custom: Dict[str, Any] = {"levels": {}, "memory_after_start": process_memory(bot.pids)}
    plain: Dict[str, Any] = {"levels": {}, "memory_after_start": process_memory(bare.pids)}
    # Level by level, the bot then the bare bot: both see the same machine
    # load (other work on the machine changes over minutes).
    for level in levels:
        one = measure(bot.url, bot.pids, CUSTOM, [level], seconds, f"b{run}c")
        other = measure(bare.url, bare.pids, BARE, [level], seconds, f"b{run}b")
        custom["levels"].update(one["levels"])
        plain["levels"].update(other["levels"])
        custom["memory"], plain["memory"] = one["memory"], other["memory"]
        print(_row(level, one["levels"][str(level)], other["levels"][str(level)]), flush=True)
    return {
        "custom": custom,
        "bare": plain,
        "actions_per_message": actions,
        "startup_s": {
            "custom": {name: round(value, 1) for name, value in bot.startup_s.items()},
            "bare": {name: round(value, 1) for name, value in bare.startup_s.items()},
        },
    }


def run_local(args: argparse.Namespace, levels: Sequence[int]) -> Dict[str, Any]:
    """Single-machine profile: one Rasa process and one action server on SQLite.

    The bare bot is a second Rasa process of the same model without an
    action server. The servers' logs stay in a temporary folder when
    something fails (its path is printed); it is removed after a run that
    went through.
    """
    work = Path(tempfile.mkdtemp(prefix="shopbot-bench-"))
    print(f"servers' logs: {work}", flush=True)
    extra = {"SHOPBOT_RATE_LIMIT": "off"}  # hundreds of messages per buyer
    bot = Stack.demo(args.model.resolve(), work / "bot", SECRET)
    bot.env = {**bot.env, **extra}
    bare = Stack.demo(args.model.resolve(), work / "bare", SECRET)
    bare.env = {**bare.env, **extra}
    bare.with_actions = False
    try:
        bot.start()
        bare.start()
        figures = compare(
            Target(bot.url, bot.pids(), bot.env["SHOPBOT_RASA_TOKEN"], bot.startup_seconds),
            Target(bare.url, bare.pids(), bare.env["SHOPBOT_RASA_TOKEN"], bare.startup_seconds),
            levels,
            args.seconds,
        )
    finally:
        bot.stop()
        bare.stop()
    shutil.rmtree(work, ignore_errors=True)
    return figures


def run_prod(args: argparse.Namespace, levels: Sequence[int]) -> Dict[str, Any]:
    """Production profile on this machine (:class:`bot.topology.Topology`).

    ``--rasa-procs`` Rasa processes and ``--action-procs`` action servers
    behind nginx, PostgreSQL order database and tracker store, Redis lock
    store, RabbitMQ events read by the event consumer; the databases and the
    queue get names of their own and are dropped afterwards. The bare
    conversations go to the same topology (their turns are answered by
    responses; a conversation's session start still calls the action
    server, as every conversation there does).
    """
    from sqlalchemy import make_url

    from bot.topology import DEFAULT_PROD_DB_URL, Topology, drop_database, tracker_db_url

    run = secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix="shopbot-bench-prod-"))
    print(f"servers' logs: {work}", flush=True)
    orders = make_url(DEFAULT_PROD_DB_URL).set(database=f"shopbot_bench_orders_{run}")
    token = secrets.token_urlsafe(24)
    env = {
        "SHOPBOT_DB_URL": orders.render_as_string(hide_password=False),
        "SHOPBOT_TRACKER_DB_NAME": f"shopbot_bench_tracker_{run}",
        "SHOPBOT_EVENTS_QUEUE": f"shopbot_bench_events_{run}",
        "SHOPBOT_JWT_SECRET": SECRET,
        "SHOPBOT_TODAY": DEMO_TODAY,
        "SHOPBOT_RASA_TOKEN": token,
        "SHOPBOT_RATE_LIMIT": "off",
        "SHOPBOT_VAR_DIR": str(work),
        "SHOPBOT_IM_SECRET": "",
        "SHOPBOT_AGENT_TOKEN": "",
    }
    topology = Topology(
        model=args.model.resolve(),
        workdir=work,
        env=env,
        rasa_procs=args.rasa_procs,
        action_procs=args.action_procs,
        event_consumer=True,
    )
    try:
        topology.prepare(demo=True).start()
        target = Target(topology.url, topology.pids(), token, topology.startup_seconds)
        figures = compare(target, target, levels, args.seconds)
    finally:
        topology.stop()
        drop_database(env["SHOPBOT_DB_URL"])
        drop_database(tracker_db_url(topology.environment()))
        delete_rabbitmq_queue(load_rabbitmq_settings(topology.environment()))
    shutil.rmtree(work, ignore_errors=True)
    return figures


def ratios(custom: Mapping[str, Any], bare: Mapping[str, Any]) -> Dict[str, Dict[str, float]]:
    """Custom over bare, per level: latency ratios and the throughput ratio."""
    found: Dict[str, Dict[str, float]] = {}
    for level, mine in custom.items():
        theirs = bare.get(level) or {}
        if not mine.get("median_ms") or not theirs.get("median_ms"):
            continue
        found[level] = {
            key: round(mine[key] / theirs[key], 2) for key in ("median_ms", "p95_ms", "p99_ms")
        }
        if theirs.get("messages_per_s"):
            found[level]["messages_per_s"] = round(
                mine["messages_per_s"] / theirs["messages_per_s"], 2
            )
    return found


HEADER = (
    f"{'conc':>4} | {'custom: median':>14} {'p95':>7} {'p99':>7} {'msg/s':>6} {'err':>3} | "
    f"{'bare: median':>12} {'p95':>7} {'p99':>7} {'msg/s':>6} {'err':>3} | ratio | "
    "CPU ms per message (c: custom, b: bare)"
)


def _row(level: int, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> str:
    def part(figures: Mapping[str, Any], width: int) -> str:
        return (
            f"{figures.get('median_ms', 0):{width}.1f} {figures.get('p95_ms', 0):7.1f} "
            f"{figures.get('p99_ms', 0):7.1f} {figures.get('messages_per_s', 0):6.1f} "
            f"{figures.get('errors', 0):3d}"
        )

    ratio = (
        mine["median_ms"] / theirs["median_ms"]
        if mine.get("median_ms") and theirs.get("median_ms")
        else 0.0
    )
    cpu = " ".join(
        f"{kind}:{name}={value:.1f}"
        for figures, kind in ((mine, "c"), (theirs, "b"))
        for name, value in (figures.get("cpu_ms_per_message") or {}).items()
    )
    return f"{level:4d} | {part(mine, 14)} | {part(theirs, 12)} | {ratio:5.2f} | {cpu}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark and print its figures; return an exit code."""
    args = arguments(argv)
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    training = time_training() if args.train else recorded_training_seconds(args.model)
    before = load_average()
    print(f"load average before: {before} on {os.cpu_count()} CPUs")
    print(f"{args.seconds:g} s per level and kind; latencies in ms")
    print(HEADER, flush=True)
    figures = run_local(args, levels) if args.profile == "local" else run_prod(args, levels)
    result = {
        "profile": args.profile,
        "model": str(args.model.resolve().name),
        "seconds_per_level": args.seconds,
        "machine": {"cpus": os.cpu_count(), "load_before": before, "load_after": load_average()},
        "conversations": {
            "custom": [
                {"name": c.name, "subject": c.subject, "messages": c.messages} for c in CUSTOM
            ],
            "bare": [{"name": c.name, "subject": c.subject, "messages": c.messages} for c in BARE],
        },
        **figures,
        "ratio_custom_to_bare": ratios(figures["custom"]["levels"], figures["bare"]["levels"]),
        "training_s": round(training, 1) if training is not None else None,
        "training_source": "timed now (--train)" if args.train else "recorded by train.sh",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"load average after: {result['machine']['load_after']}")
    print(f"start-up s: {result['startup_s']}")
    for kind in ("custom", "bare"):
        memory = ", ".join(
            f"{name} {m['rss_mib']:.0f} (peak {m['peak_rss_mib']:.0f}, own {m['anon_mib']:.0f})"
            for name, m in figures[kind]["memory"].items()
        )
        print(f"resident memory MiB after the load, {kind}: {memory}")
    if training is None:
        print("training: not recorded for this model (train it with make train, or --train)")
    else:
        print(f"training: {training:.0f} s ({result['training_source']})")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
