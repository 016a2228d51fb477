"""Scenario files: scripted buyer conversations with the real servers, and their checks.

A scenario file (YAML) holds a pinned ``today``, ``fixtures`` in the import
format of ``shared/spec/orders.md`` and ``scenarios``: each names who talks
(``sub``, ``role``) and scripts the turns, with expectations on each turn's
replies and, after the turns, whether a claim was opened::

    today: 2026-11-24
    fixtures: {shops: [...], buyers: [...], orders: [...], claims: [...]}
    scenarios:
      - name: w1_last_open_day
        buyer: {sub: buyer_001, role: buyer}
        turns:
          - user: 订单2026110900001的衣服有质量问题
            contains: [2026年11月24日, 还剩0天]
            not_contains: [已超过售后期]
            rule_ids: [W1]
            buttons: true
        claim: none

Each scenario runs on a database holding just its file's fixtures
(:func:`reset_database`), under a fresh sender id and a freshly minted token.
:func:`run_scenario` talks through a ``send`` function (the real one is
:func:`bot.chat.send`), so the checks are tested without servers;
:func:`run_files` starts one :class:`~bot.devtools.Stack` per distinct
``today`` and runs every file against it. Nothing here is used by the bot.
"""

from __future__ import annotations

import json
import time
import urllib.error
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Union,
)

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import delete

from bot.auth import mint_token
from bot.db.models import Base
from bot.db.session import session_scope
from bot.devtools import Stack, latency_summary
from bot.importer import ImportFormatError, import_data, parse_yaml
from bot.services import order_claims
from bot.settings import SHOP_TZ, Settings, load_settings

#: Sends one message and returns the bot's messages: ``send(url, token, sender, text)``.
SendFunction = Callable[[str, str, str, str], List[Dict[str, Any]]]

#: The character a turn's text is padded with up to ``pad_to`` characters.
PAD_CHARACTER = "啊"

#: Time of day of ``today`` the fixtures are imported at, by default.
IMPORT_TIME_OF_DAY = clock(12, 0)

#: Lifetime of the token minted for one scenario.
TOKEN_TTL_SECONDS = 3600


class ScenarioFileError(ValueError):
    """A scenario file cannot be read or does not have the scenario shape."""


def _as_text(value: Any) -> Any:
    """Keep a number written without quotes (an order id) as its source text."""
    source = getattr(value, "source", None)
    if isinstance(source, str):
        return source
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    return value


#: A string in a scenario file; an unquoted number is kept as written.
Text = Annotated[str, BeforeValidator(_as_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectation(_Strict):
    """What one turn's replies must (not) hold.

    Attributes:
        contains: Facts that must all appear in the joined reply texts; a
            fact given as a list is met by any one of its wordings
            (``[还剩0天, 最后一天]``).
        not_contains: Facts that must not appear there.
        rule_ids: Rule ids that must all be in the replies' ``custom.rule_ids``.
        buttons: Whether the replies carry quick-reply buttons.
        payloads: Button payloads that must all be offered (``/affirm``).
        not_payloads: Button payloads that must not be offered.
        empty: The bot must not answer at all.
        handoff: Whether a reply carries ``custom.handoff: true``.
    """

    contains: List[Union[Text, List[Text]]] = Field(default_factory=list)
    not_contains: List[Text] = Field(default_factory=list)
    rule_ids: List[Text] = Field(default_factory=list)
    buttons: Optional[bool] = None
    payloads: List[Text] = Field(default_factory=list)
    not_payloads: List[Text] = Field(default_factory=list)
    empty: Optional[bool] = None
    handoff: Optional[bool] = None


class Turn(Expectation):
    """One buyer message and the expectations on the bot's answer.

    Attributes:
        user: The message text, or a button payload such as ``/affirm``.
        pad_to: Put :data:`PAD_CHARACTER` before the text until it is this
            long (a long message with the request at the end).
    """

    user: Text
    pad_to: Optional[int] = Field(default=None, ge=1, le=100_000)

    def message(self) -> str:
        """Return the text to send."""
        if self.pad_to is None or len(self.user) >= self.pad_to:
            return self.user
        return PAD_CHARACTER * (self.pad_to - len(self.user)) + self.user


class Party(_Strict):
    """Who talks: the token's subject and role."""

    sub: Text = Field(min_length=1, max_length=128)
    role: Literal["buyer", "seller"] = "buyer"


class Scenario(_Strict):
    """One scripted conversation.

    Attributes:
        name: Unique within its file.
        buyer: Who talks.
        turns: The messages, in order.
        claim: ``opened``: a claim was opened during the scenario; ``none``:
            none was; omitted: not checked.
        known_issue: Why the bot is known to fail this scenario (the bot,
            not the expectation, is wrong). Its failure is reported as KNOWN
            and does not fail a run; once it passes it is reported as FIXED
            and fails the run until the mark is removed.
    """

    name: Text = Field(min_length=1)
    buyer: Party
    turns: List[Turn] = Field(min_length=1)
    claim: Optional[Literal["opened", "none"]] = None
    known_issue: Optional[Text] = Field(default=None, min_length=1)


class ScenarioFile(_Strict):
    """A parsed scenario file.

    Attributes:
        path: Where it was read from.
        today: The pinned date of the action server (``SHOPBOT_TODAY``).
        fixtures: Import data (shops, buyers, orders, claims).
        scenarios: The conversations.
    """

    path: Path
    today: date
    fixtures: Dict[str, Any]
    scenarios: List[Scenario] = Field(min_length=1)

    def import_time(self) -> datetime:
        """Return the import's "current time": noon of ``today``, China time.

        The importer refuses timestamps more than a day after it, so the
        fixtures live in the pinned world, whatever the real clock says.
        """
        return datetime.combine(self.today, IMPORT_TIME_OF_DAY, tzinfo=SHOP_TZ)

    def fixture_orders(self) -> List[Dict[str, str]]:
        """Return ``{"order_id", "buyer_id"}`` of every fixture order."""
        orders = self.fixtures.get("orders") or []
        return [
            {"order_id": _text_of(order.get("order_id")), "buyer_id": str(order.get("buyer_id"))}
            for order in orders
            if isinstance(order, dict)
        ]


def _text_of(value: Any) -> str:
    source = getattr(value, "source", None)
    return source if isinstance(source, str) else str(value)


def load_file(path: Path) -> ScenarioFile:
    """Read and validate one scenario file.

    Raises:
        ScenarioFileError: It cannot be read, is not YAML or has another
            shape; the message names the file and the place.
    """
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ScenarioFileError(f"{path}: cannot read: {exc}") from exc
    except ImportFormatError as exc:
        raise ScenarioFileError(f"{path}: {exc.errors[0]}") from exc
    if not isinstance(data, dict):
        raise ScenarioFileError(f"{path}: expected a mapping with today, fixtures, scenarios")
    try:
        parsed = ScenarioFile.model_validate({**data, "path": path})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ScenarioFileError(f"{path}: {problems}") from exc
    names = [scenario.name for scenario in parsed.scenarios]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ScenarioFileError(f"{path}: scenario names used twice: {', '.join(duplicates)}")
    return parsed


def collect(target: Path) -> List[ScenarioFile]:
    """Load a scenario file, or every ``*.yml``/``*.yaml`` of a folder (sorted).

    Raises:
        ScenarioFileError: A file is broken, or the folder holds none.
    """
    if target.is_dir():
        paths = sorted(p for p in target.iterdir() if p.suffix in (".yml", ".yaml"))
        if not paths:
            raise ScenarioFileError(f"{target}: no scenario files (*.yml) in this folder")
        return [load_file(path) for path in paths]
    return [load_file(target)]


def group_by_today(files: Iterable[ScenarioFile]) -> Dict[date, List[ScenarioFile]]:
    """Return the files by their ``today``, earliest first (one stack each)."""
    groups: Dict[date, List[ScenarioFile]] = {}
    for scenario_file in files:
        groups.setdefault(scenario_file.today, []).append(scenario_file)
    return dict(sorted(groups.items()))


# --------------------------------------------------------------------------
# The database of one scenario


def reset_database(
    url: str, fixtures: Dict[str, Any], now: datetime, source: str = "<fixtures>"
) -> None:
    """Empty every table of the schema and import ``fixtures``, in one transaction.

    The file stays the same, so a running action server (whose engine keeps
    connections to it) sees the new contents on its next request; a new file
    at the same path would not be seen by its pooled connections.

    Args:
        url: The database.
        fixtures: Import data.
        now: The import's "current time" (claim events are dated then;
            timestamps more than a day after it are refused).
        source: The file name, for errors.

    Raises:
        ImportFormatError: The fixtures break the import format; the
            database is left as it was.
    """
    with session_scope(url) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        import_data(fixtures, session, source=source, now=now)


def count_claims(settings: Settings, orders: Sequence[Dict[str, str]]) -> int:
    """Return how many claims the given orders have, read through :mod:`bot.services`."""
    total = 0
    for order in orders:
        found = order_claims(settings, order["buyer_id"], order["order_id"])
        total += len(found.claims)
    return total


# --------------------------------------------------------------------------
# Checking replies


def reply_text(messages: Sequence[Dict[str, Any]]) -> str:
    """Return the texts of the messages joined by newlines."""
    return "\n".join(str(message.get("text") or "") for message in messages)


def _custom(message: Dict[str, Any]) -> Dict[str, Any]:
    custom = message.get("custom")
    return custom if isinstance(custom, dict) else {}


def reply_rule_ids(messages: Sequence[Dict[str, Any]]) -> List[str]:
    """Return the rule ids of every message's ``custom.rule_ids``, in order, once each."""
    found: Dict[str, None] = {}
    for message in messages:
        for rule_id in _custom(message).get("rule_ids") or []:
            found[str(rule_id)] = None
    return list(found)


def reply_payloads(messages: Sequence[Dict[str, Any]]) -> List[str]:
    """Return the payloads of every button of the messages."""
    return [
        str(button.get("payload"))
        for message in messages
        for button in message.get("buttons") or []
        if isinstance(button, dict)
    ]


def _appears(fact: Union[str, List[str]], text: str) -> bool:
    """Whether the fact, or one of its wordings, is in the text."""
    wordings = [fact] if isinstance(fact, str) else fact
    return any(wording in text for wording in wordings)


def check_turn(expect: Expectation, messages: Sequence[Dict[str, Any]]) -> List[str]:
    """Return what is wrong with one turn's replies (empty: the turn passed)."""
    problems: List[str] = []
    text = reply_text(messages)
    missing = [fact for fact in expect.contains if not _appears(fact, text)]
    if missing:
        problems.append(f"contains: missing {missing}")
    forbidden = [fact for fact in expect.not_contains if fact in text]
    if forbidden:
        problems.append(f"not_contains: found {forbidden}")
    rule_ids = reply_rule_ids(messages)
    absent = [rule_id for rule_id in expect.rule_ids if rule_id not in rule_ids]
    if absent:
        problems.append(f"rule_ids: missing {absent}, got {rule_ids}")
    payloads = reply_payloads(messages)
    if expect.buttons is not None and bool(payloads) != expect.buttons:
        problems.append(f"buttons: expected {expect.buttons}, got {payloads or 'none'}")
    lacking = [payload for payload in expect.payloads if payload not in payloads]
    if lacking:
        problems.append(f"payloads: missing {lacking}, got {payloads}")
    offered = [payload for payload in expect.not_payloads if payload in payloads]
    if offered:
        problems.append(f"not_payloads: offered {offered}")
    if expect.empty is not None and (not messages) != expect.empty:
        problems.append(f"empty: expected {expect.empty}, got {len(messages)} message(s)")
    handoff = any(_custom(message).get("handoff") is True for message in messages)
    if expect.handoff is not None and handoff != expect.handoff:
        problems.append(f"handoff: expected {expect.handoff}, got {handoff}")
    return problems


# --------------------------------------------------------------------------
# Running


@dataclass
class TurnResult:
    """One sent message: what came back, how long it took, what was wrong."""

    index: int
    user: str
    messages: List[Dict[str, Any]]
    seconds: float
    problems: List[str]


@dataclass
class ScenarioResult:
    """The outcome of one scenario."""

    file: Path
    name: str
    turns: List[TurnResult] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    known_issue: Optional[str] = None

    @property
    def passed(self) -> bool:
        """True when no turn and no final check failed."""
        return not self.problems and not any(turn.problems for turn in self.turns)

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL``, ``KNOWN`` (failed, marked) or ``FIXED`` (passed, still marked)."""
        if self.known_issue is None:
            return "PASS" if self.passed else "FAIL"
        return "FIXED" if self.passed else "KNOWN"

    @property
    def ok(self) -> bool:
        """Whether the result leaves a run green (PASS or KNOWN)."""
        return self.status in ("PASS", "KNOWN")

    def describe(self) -> str:
        """Return the status with the failing turns: expected vs got."""
        head = f"{self.status:<5} {self.file.name} :: {self.name}"
        lines = [head]
        if self.known_issue is not None:
            lines.append(f"    known issue: {self.known_issue}")
            if self.passed:
                lines.append("    it passes now: remove known_issue from the scenario")
        for turn in self.turns:
            if not turn.problems:
                continue
            shown = turn.user if len(turn.user) <= 60 else f"…{turn.user[-50:]}"
            lines.append(f"    turn {turn.index} user={shown!r}")
            lines.extend(f"      ✗ {problem}" for problem in turn.problems)
            got = reply_text(turn.messages).replace("\n", " ⏎ ")
            lines.append(f"      got text: {got!r}")
            extras = {
                "rule_ids": reply_rule_ids(turn.messages),
                "payloads": reply_payloads(turn.messages),
            }
            lines.append(f"      got: {json.dumps(extras, ensure_ascii=False)}")
        lines.extend(f"    ✗ {problem}" for problem in self.problems)
        return "\n".join(lines)


def run_scenario(
    scenario_file: ScenarioFile,
    scenario: Scenario,
    *,
    url: str,
    secret: str,
    settings: Settings,
    send: SendFunction,
) -> ScenarioResult:
    """Run one scenario on a fresh database and check every turn.

    Args:
        scenario_file: The file (fixtures, path).
        scenario: The conversation.
        url: The Rasa server's base URL.
        secret: The JWT secret the servers verify tokens with.
        settings: Settings naming the database the action server uses.
        send: Sends one message (:func:`bot.chat.send`).

    Returns:
        The result, with every turn's latency.
    """
    result = ScenarioResult(scenario_file.path, scenario.name, known_issue=scenario.known_issue)
    reset_database(
        settings.db_url,
        scenario_file.fixtures,
        scenario_file.import_time(),
        str(scenario_file.path),
    )
    orders = scenario_file.fixture_orders()
    claims_before = count_claims(settings, orders)
    token = mint_token(
        secret, scenario.buyer.sub, role=scenario.buyer.role, ttl_seconds=TOKEN_TTL_SECONDS
    )
    sender = f"scen-{uuid.uuid4().hex[:12]}"
    for index, turn in enumerate(scenario.turns, start=1):
        text = turn.message()
        started = time.perf_counter()
        try:
            messages = send(url, token, sender, text)
        except urllib.error.HTTPError as exc:
            seconds = time.perf_counter() - started
            problem = f"HTTP {exc.code} from the shop channel"
            result.turns.append(TurnResult(index, text, [], seconds, [problem]))
            break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            seconds = time.perf_counter() - started
            problem = f"no answer from the shop channel: {exc}"
            result.turns.append(TurnResult(index, text, [], seconds, [problem]))
            break
        seconds = time.perf_counter() - started
        result.turns.append(TurnResult(index, text, messages, seconds, check_turn(turn, messages)))
    if scenario.claim is not None:
        opened = count_claims(settings, orders) - claims_before
        if scenario.claim == "opened" and opened < 1:
            result.problems.append("claim: expected one opened, none was")
        if scenario.claim == "none" and opened != 0:
            result.problems.append(f"claim: expected none, {opened} opened")
    return result


@dataclass(frozen=True)
class Latency:
    """Turn latencies in milliseconds."""

    count: int
    median: float
    p95: float
    p99: float
    maximum: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        """Summarise latencies given in seconds (:func:`bot.devtools.latency_summary`)."""
        if not seconds:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        ms = [value * 1000 for value in seconds]
        summary = latency_summary(ms)
        return cls(len(ms), summary["median_ms"], summary["p95_ms"], summary["p99_ms"], max(ms))

    def describe(self) -> str:
        """Return one line: count, median, p95, p99, max."""
        return (
            f"turn latency over {self.count} turns: median {self.median:.0f} ms, "
            f"p95 {self.p95:.0f} ms, p99 {self.p99:.0f} ms, max {self.maximum:.0f} ms"
        )


def stack_for(model: Path, workdir: Path, secret: str, today: date) -> Stack:
    """Return a (not yet started) stack on an empty SQLite database pinned to ``today``.

    The rate limit is off: every scenario of a run talks as the same few
    buyers within a minute.
    """
    stack = Stack.local(model, workdir, secret, today=today.isoformat())
    stack.env = {**stack.env, "SHOPBOT_RATE_LIMIT": "off"}
    return stack


def stack_settings(stack: Stack) -> Settings:
    """Return settings that name the stack's database (for the runner's reads)."""
    return load_settings(dict(stack.env))


def run_files(
    files: Sequence[ScenarioFile],
    model: Path,
    workdir: Path,
    send: SendFunction,
    report: Callable[[ScenarioResult], None] = lambda result: None,
) -> List[ScenarioResult]:
    """Run every scenario of ``files``, one stack per distinct ``today``.

    Args:
        files: Loaded scenario files.
        model: The trained model.
        workdir: Folder for each stack's database and logs.
        send: Sends one message (:func:`bot.chat.send`).
        report: Called with each result as soon as it is known.

    Returns:
        The results, in the order run.
    """
    results: List[ScenarioResult] = []
    for today, group in group_by_today(files).items():
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        stack = stack_for(model, workdir / today.isoformat(), secret, today).start()
        try:
            settings = stack_settings(stack)
            for scenario_file, scenario in each_scenario(group):
                result = run_scenario(
                    scenario_file,
                    scenario,
                    url=stack.url,
                    secret=secret,
                    settings=settings,
                    send=send,
                )
                report(result)
                results.append(result)
        finally:
            stack.stop()
    return results


def each_scenario(files: Iterable[ScenarioFile]) -> Iterator[tuple[ScenarioFile, Scenario]]:
    """Yield every (file, scenario) pair, in file order."""
    for scenario_file in files:
        for scenario in scenario_file.scenarios:
            yield scenario_file, scenario


__all__ = [
    "Expectation",
    "Latency",
    "Party",
    "Scenario",
    "ScenarioFile",
    "ScenarioFileError",
    "ScenarioResult",
    "Turn",
    "TurnResult",
    "check_turn",
    "collect",
    "count_claims",
    "each_scenario",
    "group_by_today",
    "load_file",
    "reply_payloads",
    "reply_rule_ids",
    "reply_text",
    "reset_database",
    "run_files",
    "run_scenario",
    "stack_for",
    "stack_settings",
]
