"""Tests of shopbot_rasa/patches/endpoint_session.py: kept connections to Rasa's endpoints.

Every call must get what Rasa's own ``EndpointConfig.request`` got; only the
connection is kept for the next call.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Dict, Iterator, List, Optional

import aiohttp
import pytest
import rasa
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from shopbot_rasa import patches
from shopbot_rasa.patches import endpoint_session
from shopbot_rasa.patches.expected import PatchMismatchError


class EchoServer:
    """An HTTP server in a thread of its own that tells what it received, and from where."""

    def __init__(self, port: Optional[int] = None) -> None:
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port: int = port
        self.peers: List[int] = []
        self._loop = asyncio.new_event_loop()
        self._runner: Optional[web.AppRunner] = None
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        async def echo(request: web.Request) -> web.Response:
            self.peers.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
            body: Any = await request.json() if request.can_read_body else None
            return web.json_response(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "headers": {k: v for k, v in request.headers.items() if k.startswith("X-")},
                    "content_type": request.headers.get("Content-Type"),
                    "body": body,
                }
            )

        async def text(_: web.Request) -> web.Response:
            return web.Response(text="plain words")

        async def fail(_: web.Request) -> web.Response:
            return web.Response(status=500, text="nope")

        app = web.Application()
        app.router.add_route("*", "/echo", echo)
        app.router.add_route("*", "/text", text)
        app.router.add_route("*", "/fail", fail)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, shutdown_timeout=0.2).start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """Stop listening and close every connection (once; later calls do nothing)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture()
def server() -> Iterator[EchoServer]:
    endpoint_session.install()
    running = EchoServer()
    yield running
    running.stop()


def _original() -> Any:
    endpoint_session.install()
    return EndpointConfig.__dict__["request"].__wrapped__


def _calls(endpoint: EndpointConfig, request: Any, n: int, **kwargs: Any) -> List[Any]:
    async def run() -> List[Any]:
        return [await request(endpoint, **kwargs) for _ in range(n)]

    return asyncio.run(run())


def test_the_patch_is_registered_and_installed_once() -> None:
    assert endpoint_session.install in patches.INSTALLERS
    endpoint_session.install()
    first = EndpointConfig.__dict__["request"]
    endpoint_session.install()
    assert EndpointConfig.__dict__["request"] is first
    assert first.__wrapped__.__qualname__ == "EndpointConfig.request"


def test_calls_share_one_connection_where_rasa_opened_one_each(server: EchoServer) -> None:
    endpoint = EndpointConfig(server.url("/echo"))
    _calls(endpoint, _original(), 3, json={"n": 1})
    assert len(set(server.peers)) == 3
    server.peers.clear()
    _calls(endpoint, EndpointConfig.request, 3, json={"n": 1})
    assert len(set(server.peers)) == 1


def test_a_call_sends_and_answers_what_rasas_call_did(server: EchoServer) -> None:
    endpoint = EndpointConfig(
        server.url(), params={"a": "1"}, headers={"X-Shop": "s1"}, token="secret-token"
    )
    kwargs: Dict[str, Any] = {
        "method": "post",
        "subpath": "echo",
        "json": {"next_action": "action_answer", "text": "订单\ud800"},
        "headers": {"X-Extra": "e"},
        "params": {"b": "2"},
    }
    before = _calls(endpoint, _original(), 1, **dict(kwargs, headers=dict(kwargs["headers"])))
    after = _calls(
        endpoint, EndpointConfig.request, 1, **dict(kwargs, headers=dict(kwargs["headers"]))
    )
    assert after == before
    assert after[0]["query"] == {"a": "1", "b": "2", "token": "secret-token"}
    assert after[0]["headers"] == {"X-Shop": "s1", "X-Extra": "e"}
    text = EndpointConfig(server.url("/text"))
    assert _calls(text, _original(), 1) == _calls(text, EndpointConfig.request, 1) == [None]


def test_an_error_status_raises_rasas_error_as_before(server: EchoServer) -> None:
    endpoint = EndpointConfig(server.url("/fail"))
    errors = []
    for request in (_original(), EndpointConfig.request):
        with pytest.raises(ClientResponseError) as caught:
            _calls(endpoint, request, 1, json={})
        errors.append((caught.value.status, caught.value.message, caught.value.text))
    assert errors[0] == errors[1] == (500, "Internal Server Error", b"nope")


def test_many_calls_in_flight_at_once_all_get_their_answer(server: EchoServer) -> None:
    endpoint = EndpointConfig(server.url("/echo"))

    async def run() -> List[Any]:
        return await asyncio.gather(
            *(EndpointConfig.request(endpoint, json={"n": n}) for n in range(150))
        )

    answers = asyncio.run(run())
    assert [answer["body"]["n"] for answer in answers] == list(range(150))


def test_a_restarted_server_is_reached_again(server: EchoServer) -> None:
    endpoint = EndpointConfig(server.url("/echo"))

    async def run() -> List[Any]:
        first = await EndpointConfig.request(endpoint, json={"n": 1})
        await asyncio.to_thread(server.stop)
        with pytest.raises(aiohttp.ClientConnectionError):
            await EndpointConfig.request(endpoint, json={"n": 2})
        again = await asyncio.to_thread(EchoServer, server.port)
        try:
            await asyncio.sleep(0.1)
            return [first, await EndpointConfig.request(endpoint, json={"n": 3})]
        finally:
            await asyncio.to_thread(again.stop)

    first, third = asyncio.run(run())
    assert (first["body"], third["body"]) == ({"n": 1}, {"n": 3})


def test_a_server_restarted_between_calls_answers_the_next_call(server: EchoServer) -> None:
    endpoint = EndpointConfig(server.url("/echo"))

    async def run() -> List[Any]:
        answers = [await EndpointConfig.request(endpoint, json={"n": 1})]
        await asyncio.to_thread(server.stop)  # closes the kept connection from its side
        again = await asyncio.to_thread(EchoServer, server.port)
        try:
            await asyncio.sleep(0.1)
            answers.append(await EndpointConfig.request(endpoint, json={"n": 2}))
        finally:
            await asyncio.to_thread(again.stop)
        return answers

    assert [answer["body"] for answer in asyncio.run(run())] == [{"n": 1}, {"n": 2}]


def test_each_event_loop_gets_its_own_session(server: EchoServer) -> None:
    endpoint = EndpointConfig(server.url("/echo"))
    for n in range(3):  # three loops, one after the other
        assert _calls(endpoint, EndpointConfig.request, 1, json={"n": n})[0]["body"] == {"n": n}
    endpoint_session.close_sessions()
    assert endpoint_session._SESSIONS == {}


def test_install_refuses_another_rasa_version(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _original()
    monkeypatch.setattr(EndpointConfig, "request", original)
    monkeypatch.setattr(rasa, "__version__", "3.6.20")
    with pytest.raises(PatchMismatchError, match=r"3\.6\.20"):
        endpoint_session.install()
    assert EndpointConfig.__dict__["request"] is original


def test_install_refuses_a_changed_session_maker(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _original()
    monkeypatch.setattr(EndpointConfig, "request", original)
    monkeypatch.setattr(EndpointConfig, "session", lambda self: None)
    with pytest.raises(PatchMismatchError, match="session"):
        endpoint_session.install()
    assert EndpointConfig.__dict__["request"] is original
