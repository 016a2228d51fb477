"""Tests of shopbot_rasa/patches/action_response.py: one compiled response validator.

The replacement must accept and reject exactly what Rasa's own check does,
with the same error; only the cost differs.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import jsonschema
import pytest
import rasa
from rasa.core.actions.action import RemoteAction

from shopbot_rasa import patches
from shopbot_rasa.patches import action_response
from shopbot_rasa.patches.expected import PatchMismatchError, source_sha256

VALID: List[Any] = [
    {"events": [], "responses": []},
    {},
    {
        "events": [
            {"event": "slot", "timestamp": None, "name": "order_id", "value": "2026111000001"},
            {"event": "pause"},
            {"event": "action", "name": "action_listen"},
        ],
        "responses": [{"response": "utter_greet", "buttons": [], "custom": {"a": 1}}],
    },
]

MALFORMED: List[Any] = [
    [],  # not an object
    "events",
    {"events": "slot"},  # events not a list
    {"events": [{"name": "order_id", "value": 1}]},  # an event without "event"
    {"events": [{"event": "slot", "value": 1}]},  # a slot event without a name
    {"events": [{"event": "slot", "name": 7, "value": 1}]},  # a slot name that is no string
    {"events": [{"event": "no_such_event"}]},  # matches none of the event kinds
    {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "now"}]},
    {"responses": [1]},  # a response that is no object
    {"responses": "utter_greet"},
]


def _original() -> Any:
    action_response.install()
    return RemoteAction.__dict__["_validate_action_result"].__wrapped__


def _error(check: Any, result: Any) -> jsonschema.ValidationError:
    with pytest.raises(jsonschema.ValidationError) as caught:
        check(RemoteAction("action_answer", None), result)
    return caught.value


def test_the_patch_is_registered_and_installed_once() -> None:
    assert action_response.install in patches.INSTALLERS
    action_response.install()
    first = RemoteAction.__dict__["_validate_action_result"]
    action_response.install()
    assert RemoteAction.__dict__["_validate_action_result"] is first
    assert first.__wrapped__.__qualname__ == "RemoteAction._validate_action_result"
    assert source_sha256(first.__wrapped__) == (action_response.ORIGINAL_SOURCE_SHA256)


@pytest.mark.parametrize("result", VALID)
def test_a_valid_response_passes_as_before(result: Any) -> None:
    original = _original()
    action = RemoteAction("action_answer", None)
    assert original(action, result) is True
    assert action._validate_action_result(result) is True


@pytest.mark.parametrize("result", MALFORMED)
def test_a_malformed_response_is_rejected_with_the_same_error(result: Any) -> None:
    before = _error(_original(), result)
    after = _error(RemoteAction._validate_action_result, result)
    assert type(after) is type(before)
    assert after.message == before.message
    assert "Failed to validate Action server response from API" in after.message
    assert list(after.path) == list(before.path)
    assert list(after.schema_path) == list(before.schema_path)
    assert after.validator == before.validator
    assert after.instance == before.instance
    assert str(after) == str(before)


def _sample_events() -> List[Dict[str, Any]]:
    """One event of every kind Rasa knows, as an action server would send it."""
    from datetime import datetime

    from rasa.shared.core import events as ev

    entity = {"entity": "order_id", "value": "2026111000001", "start": 2, "end": 15}
    parse = {
        "text": "订单2026111000001",
        "intent": {"name": "provide_order_id", "confidence": 0.9},
        "intent_ranking": [{"name": "provide_order_id", "confidence": 0.9}],
        "entities": [entity],
    }
    samples = [
        ev.UserUttered("订单2026111000001", parse["intent"], [entity], parse, input_channel="shop"),
        ev.ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
        ev.SlotSet("order_id", "2026111000001"),
        ev.BotUttered("好的", {"buttons": [{"title": "是", "payload": "/affirm"}]}, {"a": 1}),
        ev.SessionStarted(),
        ev.ConversationPaused(),
        ev.ConversationResumed(),
        ev.Restarted(),
        ev.AllSlotsReset(),
        ev.ReminderScheduled("greet", datetime(2026, 11, 24, 12, 0), name="r"),
        ev.ReminderCancelled(name="r"),
        ev.FollowupAction("action_answer"),
        ev.ActionReverted(),
        ev.UserUtteranceReverted(),
        ev.StoryExported(),
        ev.ActiveLoop("form"),
        ev.LoopInterrupted(True),
        ev.ActionExecutionRejected("action_answer"),
        ev.EntitiesAdded([entity]),
        ev.AgentUttered("人工"),
        ev.DefinePrevUserUtteredFeaturization(False),
        ev.LegacyForm("form"),
        ev.LegacyFormValidation(True),
    ]
    return [event.as_dict() for event in samples]


#: Values put in place of each field of a sample event.
WRONG_VALUES: List[Any] = [None, 1, 1.5, True, "x", "", [], {}, [1], {"a": 1}]


def _variants() -> List[Any]:
    """Responses: every sample event as is, without each field, with each wrong value."""
    variants: List[Any] = [*VALID, *MALFORMED]
    for event in _sample_events():
        variants.append({"events": [event], "responses": []})
        for key in event:
            variants.append({"events": [{k: v for k, v in event.items() if k != key}]})
            variants.extend({"events": [{**event, key: value}]} for value in WRONG_VALUES)
        variants.extend({"events": [event, value]} for value in WRONG_VALUES)
    variants.extend({"responses": [value]} for value in WRONG_VALUES)
    variants.extend({"events": value} for value in WRONG_VALUES)
    return variants


def test_the_quick_check_agrees_with_the_full_schema_on_every_variant() -> None:
    action_response.install()
    validator = action_response.response_validator()
    variants = _variants()
    verdicts = [(validator.is_valid(r), validator.full.is_valid(r)) for r in variants]
    assert all(quick == full for quick, full in verdicts)
    # Both outcomes are exercised: many variants are valid, many are not.
    assert 50 < sum(full for _, full in verdicts) < len(variants) - 50
    assert len(validator.event_kinds) >= 20
    print(f"{len(variants)} responses checked, {sum(f for _, f in verdicts)} valid")


def _outcome(check: Any, result: Any) -> Any:
    try:
        return check(RemoteAction("action_answer", None), result)
    except jsonschema.ValidationError as error:
        return (error.message, list(error.path), list(error.schema_path))


def test_a_sample_of_the_variants_gets_rasas_own_outcome() -> None:
    original = _original()
    sample = _variants()[::20]
    outcomes = [
        (_outcome(original, r), _outcome(RemoteAction._validate_action_result, r)) for r in sample
    ]
    assert all(before == after for before, after in outcomes)
    assert {True} < {o if o is True else False for o, _ in outcomes}  # valid and invalid ones


def test_the_schema_is_not_compiled_again_per_response(monkeypatch: pytest.MonkeyPatch) -> None:
    action_response.install()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("jsonschema.validate called per response")

    monkeypatch.setattr(jsonschema, "validate", refuse)
    monkeypatch.setattr(jsonschema.validators.Draft202012Validator, "check_schema", refuse)
    action = RemoteAction("action_answer", None)
    assert action._validate_action_result(VALID[2]) is True
    with pytest.raises(jsonschema.ValidationError):
        action._validate_action_result(MALFORMED[4])
    assert action_response.response_validator() is action_response.response_validator()


class _Endpoint:
    """An action endpoint that answers every call with a fixed body."""

    url = "http://actions.invalid/webhook"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.kwargs: Dict[str, Any] = {}

    async def request(self, **_: Any) -> Any:
        return self.answer


def test_a_custom_action_with_a_malformed_answer_still_fails_in_run() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    action_response.install()
    domain = Domain.from_yaml("version: '3.1'\nactions: [action_answer]\n")
    tracker = DialogueStateTracker.from_events("conv", [])
    action = RemoteAction("action_answer", _Endpoint({"events": [{"event": "slot"}]}))  # type: ignore[arg-type]
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    with pytest.raises(jsonschema.ValidationError) as caught:
        asyncio.run(action.run(CollectingOutputChannel(), nlg, tracker, domain))
    assert caught.value.message.endswith("/custom-actions")
    good = RemoteAction("action_answer", _Endpoint({"events": [VALID[2]["events"][0]]}))  # type: ignore[arg-type]
    events = asyncio.run(good.run(CollectingOutputChannel(), nlg, tracker, domain))
    assert [event.as_dict()["event"] for event in events] == ["slot"]


def test_install_refuses_another_rasa_version(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _original()
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    monkeypatch.setattr(rasa, "__version__", "3.6.20")
    with pytest.raises(PatchMismatchError, match=r"3\.6\.20"):
        action_response.install()
    assert RemoteAction.__dict__["_validate_action_result"] is original


def test_install_refuses_a_changed_function(monkeypatch: pytest.MonkeyPatch) -> None:
    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        return True

    monkeypatch.setattr(RemoteAction, "_validate_action_result", _validate_action_result)
    with pytest.raises(PatchMismatchError, match="not the function"):
        action_response.install()
    assert RemoteAction.__dict__["_validate_action_result"] is _validate_action_result
