"""Tests of shopbot_rasa/patches/action_failure.py: a failed custom action says utter_busy.

Rasa's real ``RemoteAction`` calls a real HTTP server (aiohttp, in the test's
event loop) that answers, fails with 500, hangs or rejects; the domain is the
project's ``domain.yml`` and the responses come from Rasa's own NLG.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Awaitable, Callable, Dict, List

import pytest
from aiohttp import web
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    FollowupAction,
    SessionStarted,
    SlotSet,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.settings import PROJECT_ROOT
from shopbot_rasa import patches
from shopbot_rasa.patches import action_failure, expected
from shopbot_rasa.patches.action_failure import (
    BUSY_RESPONSE,
    failure_of,
    install,
    wrap,
)
from shopbot_rasa.patches.expected import PatchMismatchError

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))
BUSY_TEXTS = {r["text"] for r in DOMAIN.responses[BUSY_RESPONSE]}


class PatchedRemoteAction(RemoteAction):
    """Rasa's remote action with the patch applied to this class only."""

    run = wrap(RemoteAction.run)  # type: ignore[assignment]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def action_server(port: int) -> web.AppRunner:
    """An action server whose path says how it answers."""

    async def ok(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "events": [{"event": "slot", "name": "order_id", "value": "2026111000001"}],
                "responses": [{"response": "utter_greet"}],
            }
        )

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    async def reject(request: web.Request) -> web.Response:
        return web.json_response({"action_name": "action_answer", "error": "no"}, status=400)

    app = web.Application()
    app.add_routes(
        [
            web.post("/ok", ok),
            web.post("/fail", fail),
            web.post("/hang", hang),
            web.post("/reject", reject),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def tracker() -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "web-1", [ActionExecuted("action_listen"), SlotSet("order_id", "2026100300002")]
    )


Run = Callable[[RemoteAction], Awaitable[List[Any]]]


def run_against(path: str, name: str = "action_answer", server: bool = True) -> List[Any]:
    """Run the patched action against the test server's ``path``; return its events."""

    async def scenario() -> List[Any]:
        port = free_port()
        runner = await action_server(port) if server else None
        try:
            action = PatchedRemoteAction(name, EndpointConfig(url=f"http://127.0.0.1:{port}{path}"))
            return await action.run(
                CollectingOutputChannel(),
                TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                tracker(),
                DOMAIN,
            )
        finally:
            if runner is not None:
                await runner.cleanup()

    return asyncio.run(scenario())


def assert_busy(events: List[Any]) -> None:
    assert len(events) == 2
    event, listen = events
    assert listen == FollowupAction("action_listen")  # the turn ends with the message
    assert isinstance(event, BotUttered)
    assert event.metadata["utter_action"] == BUSY_RESPONSE
    assert event.text in BUSY_TEXTS


def test_a_working_action_runs_unchanged() -> None:
    events = run_against("/ok")
    assert [type(e) for e in events] == [BotUttered, SlotSet]
    assert events[0].metadata["utter_action"] == "utter_greet"


def test_an_unreachable_action_server_gets_utter_busy(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=action_failure.__name__):
        events = run_against("/webhook", server=False)
    assert_busy(events)
    (line,) = [r.getMessage() for r in caplog.records if r.name == action_failure.__name__]
    assert "action_answer" in line and "unreachable" in line and "web-1" in line
    assert BUSY_RESPONSE in line


def test_a_server_error_gets_utter_busy(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=action_failure.__name__):
        assert_busy(run_against("/fail"))
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)


def test_a_slow_action_gets_utter_busy_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(action_failure, "ACTION_TIMEOUT_S", 0.3)
    with caplog.at_level(logging.ERROR, logger=action_failure.__name__):
        assert_busy(run_against("/hang"))
    assert any("(timeout)" in r.getMessage() for r in caplog.records)


def test_a_rejection_is_still_rasas_to_handle() -> None:
    with pytest.raises(ActionExecutionRejection):
        run_against("/reject")


def test_a_failed_session_start_falls_back_to_rasas_own_without_a_message() -> None:
    events = run_against("/fail", name="action_session_start")
    assert isinstance(events[0], SessionStarted)
    assert SlotSet("order_id", "2026100300002") in events
    assert isinstance(events[-1], ActionExecuted) and events[-1].action_name == "action_listen"
    assert not any(isinstance(e, BotUttered) for e in events)


def test_other_errors_are_not_failures_of_the_call() -> None:
    assert failure_of(ValueError("bad response")) is None
    assert failure_of(asyncio.TimeoutError()) == "timeout"
    try:
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert failure_of(wrapped) is None


def test_install_is_idempotent_and_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    original = RemoteAction.run
    monkeypatch.setattr(RemoteAction, "run", original)  # restored after the test
    install()
    patched = RemoteAction.run
    assert patched is not original
    install()
    assert RemoteAction.run is patched
    assert install in patches.INSTALLERS


def test_install_refuses_rasa_code_it_was_not_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(RemoteAction, "run", RemoteAction.run)
    sources: Dict[str, str] = dict(action_failure.EXPECTED_SOURCES)
    sources["rasa.core.actions.action.RemoteAction.run"] = "0" * 16
    monkeypatch.setattr(action_failure, "EXPECTED_SOURCES", sources)
    with pytest.raises(PatchMismatchError, match=r"RemoteAction\.run"):
        install()
    monkeypatch.setattr(expected, "RASA_VERSION", "9.9.9")
    with pytest.raises(PatchMismatchError, match=r"9\.9\.9"):
        install()
