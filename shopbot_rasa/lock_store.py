"""A Redis ticket-lock store that is safe for several Rasa processes.

Rasa serialises the messages of one conversation with a ticket lock (see
``rasa.core.lock``): each message draws a ticket, and the one whose number is
served first is processed while the others wait. Rasa's ``RedisLockStore``
keeps the lock as one JSON value and changes it by reading it, changing the
copy and writing it back in separate steps. Within one Rasa process those
steps never interleave (they are synchronous), but two processes sharing the
store can: a process that removes its finished ticket, or drops expired ones
while it waits, writes back a copy without the ticket another process drew in
between. That message then finds no lock and fails (Rasa raises
``LockError``), or two messages draw the same number and run at once.

:class:`AtomicRedisLockStore` makes each change of a lock one Redis
transaction (``WATCH`` the key, read, ``MULTI``/``EXEC`` the write, retried
when another process changed the key meanwhile), so tickets are drawn, served
and dropped exactly once, in order, whichever process holds them.

Configuration (``endpoints.prod.yml``)::

    lock_store:
      type: shopbot_rasa.lock_store.AtomicRedisLockStore
      url: <host>
      port: <port>
      db: <number>
      password: <password>

It takes every key of Rasa's ``type: redis`` lock store (``url`` is the host).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A change of a lock: the lock as stored (None: there is none) → the lock to
#: store (None: delete it) and the value to return.
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store, with every read-change-write of a lock atomic.

    Args:
        endpoint_config: The ``lock_store`` section of the endpoints file
            (Rasa passes it to lock stores named by module path).
    """

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        super().__init__(host=endpoint_config.url or "localhost", **endpoint_config.kwargs)

    def _change(self, conversation_id: str, change: Change[T]) -> T:
        """Apply ``change`` to the lock of ``conversation_id`` in one transaction."""
        key = self.key_prefix + conversation_id

        def apply(pipe: Any) -> T:
            raw = pipe.get(key)  # immediate: the key is watched, not yet in MULTI
            stored = TicketLock.from_dict(json.loads(raw)) if raw else None
            lock, value = change(stored)
            pipe.multi()
            if lock is None:
                pipe.delete(key)
            else:
                pipe.set(key, lock.dumps())
            return value

        result: T = self.red.transaction(apply, key, value_from_callable=True)
        return result

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Draw the next ticket of the conversation's lock (creating the lock)."""

        def draw(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        logger.debug("Issuing ticket for conversation '%s'.", conversation_id)
        return self._change(conversation_id, draw)

    def update_lock(self, conversation_id: str) -> None:
        """Drop the expired tickets of the conversation's lock, if it exists."""

        def drop_expired(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove ticket ``ticket_number`` from the conversation's lock."""

        def finish(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove the ticket; delete the lock if no ticket is left, in one step.

        Rasa's version checks "is someone waiting?" and deletes the lock in two
        steps, so a ticket drawn in between was deleted with it.
        """

        def finish_and_drop_if_idle(
            lock: Optional[TicketLock],
        ) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
                if not lock.is_someone_waiting():
                    lock = None
            return lock, None

        self._change(conversation_id, finish_and_drop_if_idle)
