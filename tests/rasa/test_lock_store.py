"""Tests of shopbot_rasa/lock_store.py against the real Redis (127.0.0.1:6379).

Two store objects with connections of their own stand for two Rasa
processes. The tests need Redis and fail (never skip) without it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Callable, Iterator, List, Tuple, Type

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from shopbot_rasa.lock_store import AtomicRedisLockStore

REDIS = {"url": "127.0.0.1", "port": 6379, "db": 0}

Stores = Callable[[], RedisLockStore]


@pytest.fixture()
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted after it."""
    value = f"shopbottest{uuid.uuid4().hex[:12]}"
    yield value
    store = AtomicRedisLockStore(EndpointConfig(**REDIS))
    for key in store.red.scan_iter(f"{value}:*"):
        store.red.delete(key)


def make_stores(kind: Type[RedisLockStore], prefix: str) -> Stores:
    """Return a factory of lock stores of ``kind`` (each with its own connection)."""

    def make() -> RedisLockStore:
        config = EndpointConfig(type="unused", key_prefix=prefix, **REDIS)
        if kind is AtomicRedisLockStore:
            store: RedisLockStore = AtomicRedisLockStore(config)
        else:
            store = RedisLockStore(host=config.url, **config.kwargs)
        assert store.red.ping(), "Redis at 127.0.0.1:6379 is needed"
        return store

    return make


def test_rasa_creates_it_from_the_endpoints_section(prefix: str) -> None:
    config = EndpointConfig(
        type="shopbot_rasa.lock_store.AtomicRedisLockStore",
        key_prefix=prefix,
        **{**REDIS, "port": "6379", "db": "0", "password": ""},
    )
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.issue_ticket("c") == 0
    assert store.red.get(f"{prefix}:lock:c") is not None


def interleave(
    monkeypatch: pytest.MonkeyPatch, method: str, other: RedisLockStore, conversation: str
) -> List[int]:
    """Make ``other`` draw a ticket inside the next call of ``TicketLock.<method>``.

    That is the moment one process has read the lock and not yet written it
    back; ``other`` is the second process. Returns the list that receives the
    ticket ``other`` drew.
    """
    original = getattr(TicketLock, method)
    drawn: List[int] = []
    busy = threading.Event()

    def hooked(self: TicketLock, *args: object) -> object:
        if not busy.is_set():
            busy.set()
            drawn.append(other.issue_ticket(conversation))
        return original(self, *args)

    monkeypatch.setattr(TicketLock, method, hooked)
    return drawn


def tickets(store: RedisLockStore, conversation: str) -> List[int]:
    lock = store.get_lock(conversation)
    return [] if lock is None else [ticket.number for ticket in lock.tickets]


@pytest.mark.parametrize(("kind", "kept"), [(AtomicRedisLockStore, True), (RedisLockStore, False)])
def test_a_ticket_drawn_while_another_process_drops_expired_ones_is_kept(
    monkeypatch: pytest.MonkeyPatch, prefix: str, kind: Type[RedisLockStore], kept: bool
) -> None:
    """Waiting processes drop expired tickets every second (``update_lock``).

    Rasa's own store (the second case) writes back the copy it read and loses
    the ticket drawn meanwhile: the reason shopbot configures its own.
    """
    make = make_stores(kind, prefix)
    first, second = make(), make()
    assert first.issue_ticket("c") == 0
    drawn = interleave(monkeypatch, "remove_expired_tickets", second, "c")
    first.update_lock("c")
    assert drawn == [1]
    assert tickets(first, "c") == ([0, 1] if kept else [0])


@pytest.mark.parametrize(("kind", "kept"), [(AtomicRedisLockStore, True), (RedisLockStore, False)])
def test_a_ticket_drawn_while_the_last_one_is_cleaned_up_is_kept(
    monkeypatch: pytest.MonkeyPatch, prefix: str, kind: Type[RedisLockStore], kept: bool
) -> None:
    """The process that served the last ticket deletes the idle lock."""
    make = make_stores(kind, prefix)
    first, second = make(), make()
    served = first.issue_ticket("c")
    drawn = interleave(monkeypatch, "is_someone_waiting", second, "c")
    first.cleanup("c", served)
    assert len(drawn) == 1
    assert tickets(first, "c") == (drawn if kept else [])


def test_processes_drawing_and_returning_tickets_at_once_lose_none(prefix: str) -> None:
    make = make_stores(AtomicRedisLockStore, prefix)
    stores = [make() for _ in range(6)]
    drawn: List[List[int]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def work(index: int) -> None:
        start.wait()
        for _ in range(30):
            drawn[index].append(stores[index].issue_ticket("c"))
            stores[index].update_lock("c")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(n for per_store in drawn for n in per_store)
    assert numbers == list(range(len(stores) * 30))
    assert tickets(stores[0], "c") == numbers

    def finish(index: int) -> None:
        for number in drawn[index]:
            stores[index].cleanup("c", number)

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stores[0].get_lock("c") is None


def test_messages_of_one_conversation_are_served_one_at_a_time_in_ticket_order(
    prefix: str,
) -> None:
    """Rasa's ``lock()`` on two processes' stores: each holder runs alone, in order."""
    make = make_stores(AtomicRedisLockStore, prefix)
    stores = [make(), make()]
    log: List[Tuple[str, int]] = []

    async def message(index: int) -> None:
        await asyncio.sleep(index * 0.005)  # arrival order 0, 1, 2, ...
        async with stores[index % 2].lock("c", wait_time_in_seconds=0.01):
            log.append(("start", index))
            await asyncio.sleep(0.01)
            log.append(("end", index))

    async def burst() -> None:
        await asyncio.gather(*(message(i) for i in range(10)))

    asyncio.run(burst())
    assert log == [(step, i) for i in range(10) for step in ("start", "end")]
    assert stores[0].get_lock("c") is None
