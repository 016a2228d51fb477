"""Find Rasa's event class of an event name without walking the class tree each time.

Rasa 3.6.21 turns every stored event back into an object through
``Event.resolve_by_type(name)``, which walks all subclasses of ``Event``
(and checks each for abstract methods) on every call: for every event of
every tracker the tracker store loads, and for every event an action server
returns. Measured with py-spy: about 3 % of the Rasa server's CPU in a turn,
growing with the length of the conversation.

:func:`install` replaces it with the same search whose answer is remembered
per event name: a name is searched (Rasa's own walk) the first time it is
asked, and its class then returned at once. Unknown names are not
remembered and get Rasa's answers as before (``None`` for the old
``topic``, the default, or the ``ValueError``). Event classes are defined
when their modules are imported, before any tracker is read.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from shopbot_rasa.patches.expected import require_rasa

#: SHA-256 of the source of ``Event.resolve_by_type``.
ORIGINAL_SOURCE_SHA256 = "b5cf570fa7f286c7059ec73d8880528d03a78b28cf4e80285a46079c0fa65968"

#: Marks the replacement (``install`` is idempotent).
_PATCHED = "_shopbot_remembered"


def _replacement(original: Callable[..., Any]) -> Callable[..., Any]:
    from rasa.shared.core import events
    from rasa.shared.utils import common

    found: Dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Optional[Any] = None) -> Optional[Any]:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        for cls in common.all_subclasses(events.Event):
            if cls.type_name == type_name:
                found[type_name] = cls
                return cls
        return original(type_name, default)

    resolve_by_type.__doc__ = original.__doc__
    resolve_by_type.__qualname__ = original.__qualname__
    resolve_by_type.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(resolve_by_type, _PATCHED, True)
    return resolve_by_type


def install() -> None:
    """Replace ``Event.resolve_by_type`` (idempotent).

    Raises:
        PatchMismatchError: Rasa is not 3.6.21, or the function is not the
            one this patch was written for.
    """
    from rasa.shared.core.events import Event

    current = Event.__dict__.get("resolve_by_type")
    function = getattr(current, "__func__", None)
    if getattr(function, _PATCHED, False):
        return
    require_rasa(
        "event_types",
        {"Event.resolve_by_type": function},
        {"Event.resolve_by_type": ORIGINAL_SOURCE_SHA256},
    )
    Event.resolve_by_type = staticmethod(_replacement(function))  # type: ignore[method-assign]
