"""Stream a saved tracker's new events without loading the stored tracker again.

Rasa 3.6.21's ``TrackerStore.stream_events`` (called by
``SQLTrackerStore.save`` before it writes, when an event broker is
configured: the production profile's RabbitMQ) finds the events to publish
by loading the stored conversation again (``retrieve``: every event of the
session read from PostgreSQL, parsed and replayed into a tracker) only to
count them; the cost grows with the conversation's length. Measured on this
machine's PostgreSQL (``save`` of one turn): the 30th turn of a conversation
38 → 18 ms, the 10th 16 → 10 ms, a short one (2 turns) 9 → 8 ms.

:func:`install` gives ``SQLTrackerStore`` a ``stream_events`` that counts
the stored events of the latest session with the query ``save`` itself uses
to find what to write (``_event_query(...).count()``) and publishes the same
events: those of the tracker after that many (all of them when nothing is
stored, or when the store has no domain, as ``retrieve`` then finds no
tracker). The one difference: a stored row Rasa cannot read back (an event
of a kind it no longer knows, never written by this Rasa) is counted, where
the replay skipped it and published that many old events again. Other
tracker stores keep Rasa's own method.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Callable

from shopbot_rasa.patches.expected import PatchMismatchError, require_rasa

logger = logging.getLogger("rasa.core.tracker_store")

#: SHA-256 of the source of the methods the patch replaces or relies on.
EXPECTED_SOURCES = {
    "TrackerStore.stream_events": (
        "efd3615f5340218a9edb4f386ed208d38f0d413d197eadc8b386d34fc8e4399c"
    ),
    "SQLTrackerStore.save": ("57165e46eab3de0866e77f03df0bf7fd5eac2c1de617ed431b934c9a4edfeef6"),
    "SQLTrackerStore._retrieve": (
        "c8adbf6f4b61ddd1124690944ebdf2ebc82d0723bd07c6704caab0b80120a0ef"
    ),
    "SQLTrackerStore._event_query": (
        "cd44f7901b860bfd598a813bde17d0d5b0d7bab129feaf76bb2dca87d628625b"
    ),
    "TrackerEventDiffEngine.event_difference": (
        "302258882d5f0d276240a8c9458714d92dd7602779653c7edc61dbffab7de8b2"
    ),
}

#: Marks the replacement (``install`` is idempotent).
_PATCHED = "_shopbot_counted_stream"


async def stream_events(self: Any, tracker: Any) -> None:
    """Streams events to a message broker."""
    if self.event_broker is None:
        logger.debug("No event broker configured. Skipping streaming events.")
        return None

    with self.session_scope() as session:
        stored = self._event_query(
            session, tracker.sender_id, fetch_events_from_all_sessions=False
        ).count()
    # retrieve() would give no tracker (so nothing already sent) without a
    # domain or without stored events.
    offset = stored if self.domain and stored > 0 else 0
    events = tracker.events
    new_events = list(itertools.islice(events, offset, len(events)))

    await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)


setattr(stream_events, _PATCHED, True)


def _sources() -> dict[str, Callable[..., Any]]:
    from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
    from rasa.shared.core.trackers import TrackerEventDiffEngine

    return {
        "TrackerStore.stream_events": TrackerStore.stream_events,
        "SQLTrackerStore.save": SQLTrackerStore.save,
        "SQLTrackerStore._retrieve": SQLTrackerStore._retrieve,
        "SQLTrackerStore._event_query": SQLTrackerStore._event_query,
        "TrackerEventDiffEngine.event_difference": TrackerEventDiffEngine.event_difference,
    }


def install() -> None:
    """Give ``SQLTrackerStore`` the counting ``stream_events`` (idempotent).

    Raises:
        PatchMismatchError: Rasa is not 3.6.21, or the methods are not the
            ones this patch was written for.
    """
    from rasa.core.tracker_store import SQLTrackerStore

    if getattr(SQLTrackerStore.__dict__.get("stream_events"), _PATCHED, False):
        return
    require_rasa("tracker_stream", _sources(), EXPECTED_SOURCES)
    if "stream_events" in SQLTrackerStore.__dict__:
        raise PatchMismatchError(
            "shopbot_rasa.patches.tracker_stream: SQLTrackerStore has a stream_events of its own"
        )
    SQLTrackerStore.stream_events = stream_events  # type: ignore[method-assign]
