"""A custom action that cannot run makes the bot say ``utter_busy``, not nothing.

Rasa 3.6.21 runs a custom action by POSTing to the action server
(:meth:`rasa.core.actions.action.RemoteAction.run`). When that call fails
(the server is down or restarting, it does not answer in time, or it answers
with a server error), Rasa's message processor logs a stack trace, drops the
action's events and the buyer hears nothing.

With this patch such a failure is answered with the domain's ``utter_busy``
response ("系统繁忙，请稍后再试"): the action returns that one bot message, so
the processor records it in the tracker as a bot event (the channels, the
conversation history and the agents see it) and sends it like any reply, and
the bot then listens (``FollowupAction("action_listen")``). The action's own
events are lost, so the conversation's state is the one before the failed
turn (the order chosen earlier stays chosen, an offered claim is still
offered). The operator gets one log line::

    custom action action_answer failed (unreachable: ClientConnectorError) for
    conversation web-1: the bot answered utter_busy

A custom session start (``action_session_start``) that fails is replaced by
Rasa's own (a new session with the slots carried over) and says nothing: the
action of the buyer's message that follows answers, or says it is busy.

A call is given :data:`ACTION_TIMEOUT_S` seconds (Rasa's own limit is five
minutes), below the IM worker's wait for the bot's answer.

An action server's refusal to run an action (HTTP 400,
:class:`~rasa.core.actions.action.ActionExecutionRejection`) and any other
error are left to Rasa as before.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Callable, Coroutine, List, Optional

from shopbot_rasa.patches.expected import require_rasa

logger = logging.getLogger(__name__)

#: The domain response of "the system is busy, please try later".
BUSY_RESPONSE = "utter_busy"
#: Seconds a custom action may take before the buyer is told the bot is busy.
ACTION_TIMEOUT_S = 20.0
#: SHA-256 (first 16 hex digits) of the source of the Rasa functions whose
#: behaviour the patch relies on: ``RemoteAction.run`` (how a failed call is
#: raised) and ``MessageProcessor._run_action`` (what is done with the events
#: an action returns, and with its exceptions).
EXPECTED_SOURCES = {
    "rasa.core.actions.action.RemoteAction.run": "ccabf6f1160d527a",
    "rasa.core.processor.MessageProcessor._run_action": "6d383d0179ef1187",
}
#: Marks the installed wrapper (``install`` is idempotent).
_MARK = "_shopbot_action_failure"

RunMethod = Callable[..., Coroutine[Any, Any, List[Any]]]


def _check_rasa() -> None:
    """Raise :class:`PatchMismatchError` unless Rasa's code is the expected one."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor

    functions = {
        "rasa.core.actions.action.RemoteAction.run": RemoteAction.run,
        "rasa.core.processor.MessageProcessor._run_action": MessageProcessor._run_action,
    }
    require_rasa("action_failure", functions, EXPECTED_SOURCES)


def failure_of(error: BaseException) -> Optional[str]:
    """Describe a failed call to the action server, or None for any other error.

    Rasa wraps the HTTP client's error (a status other than 200 is Rasa's own
    ``ClientResponseError``) in a ``RasaException``, as its cause or context;
    a timeout arrives as :class:`asyncio.TimeoutError`.

    Args:
        error: What the action raised.

    Returns:
        ``unreachable: <error type>``, ``timeout`` or ``HTTP <status>``, for the
        log line; None when the error is not a failed call.
    """
    import aiohttp
    from rasa.utils.endpoints import ClientResponseError

    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    seen = set()
    cause: Optional[BaseException] = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return "timeout"
        if isinstance(cause, (ClientResponseError, aiohttp.ClientResponseError)):
            return f"HTTP {cause.status}"
        if isinstance(cause, aiohttp.ClientConnectionError):
            return f"unreachable: {type(cause).__name__}"
        if isinstance(cause, aiohttp.ClientError):
            return f"failed: {type(cause).__name__}"
        cause = cause.__cause__ or cause.__context__
    return None


async def busy_events(output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> List[Any]:
    """Return the bot event of ``utter_busy``, then listen.

    The turn ends with the busy message: without the action's events the
    rules may know no next action (an awaited answer is still awaited), and
    Rasa's fallback would add "I did not understand".
    """
    from rasa.core.actions.action import ActionBotResponse
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import FollowupAction

    events: List[Any] = await ActionBotResponse(BUSY_RESPONSE).run(
        output_channel, nlg, tracker, domain
    )
    return [*events, FollowupAction(ACTION_LISTEN_NAME)]


async def session_start_events(
    output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> List[Any]:
    """Return the events of Rasa's own session start (slots carried over)."""
    from rasa.core.actions.action import ActionSessionStart

    events: List[Any] = await ActionSessionStart().run(output_channel, nlg, tracker, domain)
    return events


def wrap(run: RunMethod) -> RunMethod:
    """Return ``RemoteAction.run`` that answers a failed call instead of raising.

    Args:
        run: Rasa's ``RemoteAction.run``.
    """
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.shared.core.constants import ACTION_SESSION_START_NAME

    @functools.wraps(run)
    async def run_or_busy(
        self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any
    ) -> List[Any]:
        try:
            return await asyncio.wait_for(
                run(self, output_channel, nlg, tracker, domain), ACTION_TIMEOUT_S
            )
        except ActionExecutionRejection:
            raise
        except Exception as error:
            failure = failure_of(error)
            if failure is None:
                raise
            if self.name() == ACTION_SESSION_START_NAME:
                logger.error(
                    "custom action %s failed (%s) for conversation %s: "
                    "Rasa's own session start was used",
                    self.name(),
                    failure,
                    tracker.sender_id,
                )
                return await session_start_events(output_channel, nlg, tracker, domain)
            logger.error(
                "custom action %s failed (%s) for conversation %s: the bot answered %s",
                self.name(),
                failure,
                tracker.sender_id,
                BUSY_RESPONSE,
            )
            return await busy_events(output_channel, nlg, tracker, domain)

    setattr(run_or_busy, _MARK, True)
    return run_or_busy


def install() -> None:
    """Make a failed custom action answer ``utter_busy`` (idempotent).

    Raises:
        PatchMismatchError: Rasa is not the release, or its code not the one,
            the patch was written for.
    """
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction.run, _MARK, False):
        return
    _check_rasa()
    RemoteAction.run = wrap(RemoteAction.run)  # type: ignore[method-assign]
