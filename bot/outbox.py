"""The IM channel's durable queues: the inbox and the outbox.

Both are database tables (:class:`~bot.db.models.ImInbox`,
:class:`~bot.db.models.ImOutbox`) worked the same way:

* **De-duplicated**: an inbound message is stored once per ``msg_id``
  (unique), a reply once per ``reply_to`` (unique), so platform retries and a
  message answered twice queue nothing new, across restarts too.
* **In order per conversation**: only the oldest pending row of a
  conversation can be claimed; the next waits until it is done.
* **Leased**: a worker claims a row with a conditional ``UPDATE`` that names
  it and sets a deadline; a second worker (or process) cannot claim it until
  the deadline passed, and a worker that died leaves it to be claimed again.
* **Retried with exponential backoff**: a failed attempt waits
  ``first * 2**(attempts-1)`` seconds, at most ``longest``, and is never
  dropped (the operator sees the failures in the log).
* **Never lost**: a row is marked done only after its work succeeded (the
  bot's answer stored in the outbox in the same transaction, or a 2xx from
  the platform).
* **Rate limited**: a message the channel marked over its buyer's rate limit
  is stored like any other (so its retries are duplicates); one marked
  :data:`~bot.im_protocol.RATE_DROP` is stored done and never answered, one
  marked :data:`~bot.im_protocol.RATE_NOTICE` is answered, in its turn, with
  the channel's rate-limit notice instead of the bot.

:func:`process_next` answers one inbound message (through a callable that
asks the Rasa server) and :func:`deliver_next` delivers one reply (through a
callable that POSTs it); :mod:`bot.im_worker` runs them in loops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type, TypeVar

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from bot.db.models import IM_ERROR_MAX_LENGTH, ImInbox, ImOutbox, ImQueueMixin
from bot.db.session import session_scope
from bot.im_protocol import RATE_DROP, RATE_NOTICE, InboundMessage, reply_body, signed_headers

logger = logging.getLogger(__name__)

Row = TypeVar("Row", ImInbox, ImOutbox)
#: Sends one signed request: ``(url, body, headers) -> HTTP status``, 0 when
#: no answer came (connection refused, timeout).
Post = Callable[[str, bytes, Mapping[str, str]], int]
#: Asks the bot to answer a message: ``message -> (HTTP status, messages)``.
Ask = Callable[[InboundMessage], Tuple[int, Optional[List[Dict[str, Any]]]]]
#: ``last_error`` of a message stored done because its buyer was over the rate limit.
RATE_LIMITED = "rate_limited"
#: HTTP statuses of the Rasa side that retrying cannot fix: the message is
#: malformed (400), its conversation belongs to someone else (403) or it is
#: too large (413). Anything else (5xx, no answer) is retried.
PERMANENT_STATUSES = frozenset({400, 403, 413})


def utc_now() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts.

    Attributes:
        first_s: Wait after the first failure, in seconds.
        longest_s: Longest wait, in seconds.
    """

    first_s: float = 1.0
    longest_s: float = 300.0

    def delay_s(self, attempts: int) -> float:
        """Return the wait after ``attempts`` failed attempts (1 or more)."""
        exponent = min(max(attempts, 1) - 1, 60)
        return float(min(self.longest_s, self.first_s * 2.0**exponent))


@dataclass(frozen=True)
class Queue:
    """How a worker uses the queues.

    Attributes:
        url: The database URL.
        owner: This worker's name, written in the rows it leases.
        lease_s: How long a claim holds before another worker may take over;
            longer than any single attempt (HTTP timeouts included).
        backoff: Waits between failed attempts.
        clock: Current time (tests inject one).
    """

    url: str
    owner: str
    lease_s: float = 60.0
    backoff: Backoff = Backoff()
    clock: Callable[[], datetime] = utc_now


def receive(url: str, message: InboundMessage, now: Optional[datetime] = None) -> bool:
    """Store an inbound message unless its ``msg_id`` was stored before.

    Args:
        url: The database URL.
        message: The message (text already clipped by the channel), with the
            channel's rate-limit mark if any.
        now: When it arrived; the current time by default.

    Returns:
        True when it was new and is now stored (queued, or done at once when
        marked :data:`~bot.im_protocol.RATE_DROP`), False for a duplicate.
    """
    moment = now or utc_now()
    dropped = message.rate_limit == RATE_DROP
    try:
        with session_scope(url) as session:
            seen = session.scalar(select(ImInbox.id).where(ImInbox.msg_id == message.msg_id))
            if seen is not None:
                return False
            session.add(
                ImInbox(
                    msg_id=message.msg_id,
                    conversation_id=message.conversation_id,
                    buyer_id=message.buyer_id,
                    text=message.text,
                    rate_limited=message.rate_limit is not None,
                    created_at=moment,
                    attempts=0,
                    next_attempt_at=moment,
                    done_at=moment if dropped else None,
                    last_error=RATE_LIMITED if dropped else None,
                )
            )
    except IntegrityError:
        # Another request with the same msg_id committed in between.
        return False
    return True


def claim_next(queue: Queue, model: Type[Row]) -> Optional[Row]:
    """Lease the oldest claimable row of ``model``, if any.

    A row is claimable when it is pending, due, not leased by a live worker,
    and the oldest pending row of its conversation.

    Returns:
        The leased row (detached, readable), or None when there is nothing
        to do now.
    """
    now = queue.clock()
    earlier = aliased(model)
    free = or_(model.lease_until.is_(None), model.lease_until < now)
    blocked = exists().where(
        earlier.conversation_id == model.conversation_id,
        earlier.id < model.id,
        earlier.done_at.is_(None),
    )
    with session_scope(queue.url) as session:
        candidates = session.scalars(
            select(model.id)
            .where(model.done_at.is_(None), model.next_attempt_at <= now, free, ~blocked)
            .order_by(model.id)
            .limit(20)
        ).all()
    for row_id in candidates:
        with session_scope(queue.url) as session:
            claimed = session.execute(
                update(model)
                .where(model.id == row_id, model.done_at.is_(None), free)
                .values(
                    lease_owner=queue.owner,
                    lease_until=now + timedelta(seconds=queue.lease_s),
                    attempts=model.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                continue
            row: Optional[Row] = session.get(model, row_id)
            return row
    return None


def finish(
    queue: Queue, model: Type[ImQueueMixin], row_id: int, error: Optional[str] = None
) -> bool:
    """Mark a row done (``error`` names why, when it was given up).

    Returns:
        True when this call marked it, False when it was already done.
    """
    with session_scope(queue.url) as session:
        result = session.execute(
            update(model)
            .where(model.id == row_id, model.done_at.is_(None))
            .values(
                done_at=queue.clock(),
                lease_owner=None,
                lease_until=None,
                last_error=error[:IM_ERROR_MAX_LENGTH] if error else None,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def retry_later(queue: Queue, model: Type[ImQueueMixin], row_id: int, error: str) -> datetime:
    """Release a failed row to be tried again after the backoff.

    Returns:
        When it will be due again.
    """
    with session_scope(queue.url) as session:
        attempts = session.scalar(select(model.attempts).where(model.id == row_id)) or 1
        due = queue.clock() + timedelta(seconds=queue.backoff.delay_s(attempts))
        session.execute(
            update(model)
            .where(model.id == row_id, model.lease_owner == queue.owner, model.done_at.is_(None))
            .values(
                next_attempt_at=due,
                lease_owner=None,
                lease_until=None,
                last_error=error[:IM_ERROR_MAX_LENGTH],
            )
            .execution_options(synchronize_session=False)
        )
    return due


def answer(queue: Queue, inbound: ImInbox, messages: List[Dict[str, Any]]) -> bool:
    """Queue the bot's reply to ``inbound`` and mark it answered, atomically.

    An empty reply queues nothing. A reply already queued for the same
    ``msg_id`` is kept (never a second one).

    Returns:
        True when a reply was queued by this call.
    """
    now = queue.clock()
    with session_scope(queue.url) as session:
        queued = False
        exists_already = session.scalar(
            select(ImOutbox.id).where(ImOutbox.reply_to == inbound.msg_id)
        )
        if messages and exists_already is None:
            session.add(
                ImOutbox(
                    conversation_id=inbound.conversation_id,
                    reply_to=inbound.msg_id,
                    messages=messages,
                    created_at=now,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            queued = True
        session.execute(
            update(ImInbox)
            .where(ImInbox.id == inbound.id, ImInbox.done_at.is_(None))
            .values(done_at=now, lease_owner=None, lease_until=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
    return queued


def enqueue(
    url: str,
    conversation_id: str,
    messages: List[Dict[str, Any]],
    now: Optional[datetime] = None,
) -> int:
    """Queue messages that answer no inbound message (a human agent's).

    They are delivered like the bot's replies (signed, retried, in order
    with the conversation's other replies), with ``"reply_to": null``.

    Args:
        url: The database URL.
        conversation_id: The platform's conversation (without ``im:``).
        messages: The messages, in the format of the bot's replies.
        now: When they were queued; the current time by default.

    Returns:
        The outbox row's id.
    """
    moment = now or utc_now()
    with session_scope(url) as session:
        row = ImOutbox(
            conversation_id=conversation_id,
            reply_to=None,
            messages=messages,
            created_at=moment,
            attempts=0,
            next_attempt_at=moment,
        )
        session.add(row)
        session.flush()
        return row.id


def process_next(queue: Queue, ask: Ask) -> Optional[str]:
    """Answer the next inbound message, if one is due.

    Args:
        queue: The worker's use of the queues.
        ask: Asks the bot; returns the HTTP status and the bot's messages.

    Returns:
        ``answered``, ``rejected`` (given up: the bot refused it for good),
        ``retry`` (the bot is unavailable), or None when nothing was due.
    """
    row = claim_next(queue, ImInbox)
    if row is None:
        return None
    message = InboundMessage(
        row.msg_id,
        row.conversation_id,
        row.buyer_id,
        row.text,
        rate_limit=RATE_NOTICE if row.rate_limited else None,
    )
    status, messages = ask(message)
    if status == 200 and messages is not None:
        answer(queue, row, messages)
        return "answered"
    if status in PERMANENT_STATUSES:
        logger.warning("im: message %s refused by the bot (HTTP %s)", row.msg_id, status)
        finish(queue, ImInbox, row.id, error=f"bot_http_{status}")
        return "rejected"
    due = retry_later(queue, ImInbox, row.id, f"bot_http_{status}")
    logger.warning(
        "im: the bot did not answer message %s (HTTP %s, attempt %s); retry at %s",
        row.msg_id,
        status or "none",
        row.attempts,
        due.isoformat(timespec="seconds"),
    )
    return "retry"


def deliver_next(queue: Queue, secret: str, callback_url: str, post: Post) -> Optional[str]:
    """Deliver the next due reply to the platform, signed.

    Args:
        queue: The worker's use of the queues.
        secret: The IM secret that signs the request.
        callback_url: ``SHOPBOT_IM_CALLBACK_URL`` (never logged: it may hold
            a credential).
        post: Sends the request and returns the HTTP status (0: no answer).

    Returns:
        ``delivered``, ``retry`` or None when nothing was due.
    """
    row = claim_next(queue, ImOutbox)
    if row is None:
        return None
    body = reply_body(row.conversation_id, row.reply_to, row.messages)
    status = post(callback_url, body, signed_headers(secret, body))
    if 200 <= status < 300:
        finish(queue, ImOutbox, row.id)
        return "delivered"
    due = retry_later(queue, ImOutbox, row.id, f"platform_http_{status}")
    logger.warning(
        "im: delivery of the reply to %s failed (HTTP %s, attempt %s); retry at %s",
        row.reply_to or f"nothing (agent message {row.id})",
        status or "none",
        row.attempts,
        due.isoformat(timespec="seconds"),
    )
    return "retry"


def pending_counts(url: str) -> Dict[str, int]:
    """Return how many inbound messages and replies are not done yet."""
    with session_scope(url) as session:
        return {
            model.__tablename__: session.scalar(
                select(func.count()).select_from(model).where(model.done_at.is_(None))
            )
            or 0
            for model in (ImInbox, ImOutbox)
        }


__all__ = [
    "PERMANENT_STATUSES",
    "RATE_LIMITED",
    "Ask",
    "Backoff",
    "Post",
    "Queue",
    "answer",
    "claim_next",
    "deliver_next",
    "enqueue",
    "finish",
    "pending_counts",
    "process_next",
    "receive",
    "retry_later",
    "utc_now",
]
