"""Validate action server responses with a JSON schema validator compiled once.

Rasa 3.6.21 checks every action server response with
``jsonschema.validate(response, RemoteAction.action_response_format_spec())``
(``RemoteAction._validate_action_result``). That call first checks the
schema itself against the JSON Schema meta-schema and builds a new
validator, on every custom action: measured with py-spy, about two thirds
of the Rasa process's time in a custom-action turn.

:func:`install` replaces ``RemoteAction._validate_action_result`` with the
same check done by a validator built (and its schema checked) once per
process: same schema, same validator class, same error chosen
(``jsonschema.exceptions.best_match``) with the same message suffix, raised
the same way. A subclass that brings its own response schema keeps Rasa's
original check.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Dict, Mapping

from shopbot_rasa.patches.expected import require_rasa

#: The Rasa version, and the SHA-256 of the source of the function replaced,
#: that this patch was written for.
ORIGINAL_SOURCE_SHA256 = "f8cdb4be6812396167ced74161b2ccd65c5ea676ad86d7d359d8c322d9d8dc42"

#: Marks the replacement (``install`` is idempotent).
_PATCHED = "_shopbot_compiled_validator"


@dataclass(frozen=True)
class ResponseValidator:
    """Rasa's action response schema, compiled once.

    Attributes:
        full: The validator of the whole schema: what ``jsonschema.validate``
            builds on every call (the class the schema names, the newest
            draft by default), after the same meta-schema check.
        shallow: The validator of the schema with the events' items left
            unchecked (the response's shape, ``responses`` included).
        event_kinds: For each event name, the validator of one event of that
            kind: the event schema with its ``oneOf`` replaced by the one
            branch whose ``event`` constant is that name. Every branch has
            its own constant, so an event names at most one branch it can
            match and is valid exactly when it is valid for that branch.
            Empty when the schema is not shaped so (then only ``full`` is used).
    """

    full: Any
    shallow: Any
    event_kinds: Mapping[str, Any]

    def is_valid(self, result: Any) -> bool:
        """Tell whether ``result`` is a valid response, checking each event once.

        The same answer as ``full.is_valid(result)``: True only when every
        event is valid for the one kind it names; anything else (an unknown
        kind, a non-object event, no event name) is left to ``full``.
        """
        if not self.event_kinds:
            return bool(self.full.is_valid(result))
        if not self.shallow.is_valid(result):
            return False
        for event in result.get("events") or ():
            kind = event.get("event") if isinstance(event, dict) else None
            validator = self.event_kinds.get(kind) if isinstance(kind, str) else None
            if validator is None:
                return bool(self.full.is_valid(result))
            if not validator.is_valid(event):
                return False
        return True


def _event_kinds(event_schema: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Split the event schema by the ``event`` constant of its ``oneOf`` branches.

    Returns:
        One schema per event name; empty unless every branch has an
        ``event`` constant of its own.
    """
    branches = event_schema.get("oneOf")
    if not isinstance(branches, list):
        return {}
    base = {key: value for key, value in event_schema.items() if key != "oneOf"}
    kinds: Dict[str, Dict[str, Any]] = {}
    for branch in branches:
        name = ((branch.get("properties") or {}).get("event") or {}).get("const")
        if not isinstance(name, str) or name in kinds:
            return {}
        kinds[name] = {**base, "allOf": [branch]}
    return kinds


@lru_cache(maxsize=1)
def response_validator() -> ResponseValidator:
    """Return the validators of Rasa's action response schema, built once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    full = validator_class(schema)
    events = (schema.get("properties") or {}).get("events") or {}
    items = events.get("items")
    if schema.get("type") != "object" or not isinstance(items, dict):
        return ResponseValidator(full, full, {})
    unchecked = {key: value for key, value in events.items() if key != "items"}
    shallow = {**schema, "properties": {**schema["properties"], "events": unchecked}}
    kinds = {name: validator_class(kind) for name, kind in _event_kinds(items).items()}
    return ResponseValidator(full, validator_class(shallow), kinds)


def _replacement(original: Callable[..., bool]) -> Callable[..., bool]:
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import DOCS_BASE_URL, RemoteAction

    own_schema = RemoteAction.__dict__["action_response_format_spec"]

    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        if type(self).__dict__.get("action_response_format_spec", own_schema) is not own_schema:
            return original(self, result)
        validator = response_validator()
        if validator.is_valid(result):
            return True
        error = best_match(validator.full.iter_errors(result))
        if error is not None:
            error.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    _validate_action_result.__doc__ = original.__doc__
    _validate_action_result.__qualname__ = original.__qualname__
    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(_validate_action_result, _PATCHED, True)
    return _validate_action_result


def install() -> None:
    """Replace ``RemoteAction._validate_action_result`` (idempotent).

    Raises:
        PatchMismatchError: Rasa is not 3.6.21, or the function is not the
            one this patch was written for.
    """
    from rasa.core.actions.action import RemoteAction

    current = RemoteAction.__dict__.get("_validate_action_result")
    if getattr(current, _PATCHED, False):
        return
    name = "RemoteAction._validate_action_result"
    require_rasa("action_response", {name: current}, {name: ORIGINAL_SOURCE_SHA256})
    response_validator()  # the schema is checked here, once, at start-up
    RemoteAction._validate_action_result = _replacement(current)  # type: ignore[method-assign]
