"""shopbot's changes to Rasa 3.6.21, installed by :mod:`shopbot_rasa.server`.

Each module changes one thing and has an ``install()`` that is idempotent and
checks that the Rasa code it changes is the one it was written for. They are
installed in the order of :data:`INSTALLERS`.
"""

from __future__ import annotations

from typing import Callable, List

from shopbot_rasa.patches import (
    action_failure,
    action_response,
    endpoint_session,
    event_broker,
    event_types,
    graph_runner,
    tracker_stream,
)

#: The installers, in order; each patch module adds its own ``install``.
INSTALLERS: List[Callable[[], None]] = [
    action_failure.install,  # a failed custom action answers utter_busy
    event_broker.install,  # the bot answers on while RabbitMQ is away
    action_response.install,  # one compiled validator for action server responses
    graph_runner.install,  # the model graph run in order, without dask's scheduler
    endpoint_session.install,  # keep-alive connections to the action server
    event_types.install,  # event classes found by name once, not per event
    tracker_stream.install,  # new events streamed without reloading the stored tracker
]


def install() -> None:
    """Install every patch of :data:`INSTALLERS` (safe to call twice)."""
    for installer in INSTALLERS:
        installer()
