"""Keep HTTP connections to Rasa's endpoints (the action server) open between calls.

Rasa 3.6.21's ``EndpointConfig.request`` opens a new ``aiohttp`` client
session, and with it a new TCP connection, for every call: every custom
action pays a connection set-up and a session's construction and teardown
(measured: 1.5 to 2 ms of a 2 to 4 ms action call on this machine, about
0.8 ms of it CPU in the Rasa process).

:func:`install` replaces ``EndpointConfig.request`` with the same request
sent through one session per endpoint and event loop, made as Rasa's own
``EndpointConfig.session()`` makes one (same headers, authentication and
timeout), with a connection pool of no fixed size (as many connections as
calls in flight, as before) and no cookies kept. Everything else is Rasa's
code as it was: the headers, query parameters, token, certificate,
compression, the ``ClientResponseError`` of a status of 400 or more,
``None`` for a body that is not JSON, and the errors of a server that
cannot be reached. Idle connections are closed by the client after 15 s
(``aiohttp``'s default), before the action server's keep-alive (120 s) or
nginx's (75 s) would close them; a server that restarts closes its
connections, so the next call opens a new one. The sessions are closed when
the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ssl
from typing import Any, Callable, Dict, Optional, Tuple

from shopbot_rasa.patches.expected import require_rasa

#: SHA-256 of the source of the ``EndpointConfig`` methods the patch replaces
#: (``request``) or relies on (``session``).
EXPECTED_SOURCES = {
    "request": "ccdb778aed8208e23cde3c3f47eac7fbbbb735dac8f7ef7254d54451c64ad608",
    "session": "e55aa13d9d4fb4bc440ac33b870a97ee162b76dda7ccb6bf68433567475fdffb",
}

#: Marks the replacement (``install`` is idempotent).
_PATCHED = "_shopbot_kept_session"
#: The open sessions: (endpoint id, loop) → (endpoint, loop, session).
_SESSIONS: Dict[Tuple[int, int], Tuple[Any, asyncio.AbstractEventLoop, Any]] = {}


def shared_session(endpoint: Any) -> Any:
    """Return the endpoint's session on the running event loop, opening it if needed.

    It is the session ``EndpointConfig.session()`` makes (same headers,
    basic authentication and total timeout), with a connection pool of no
    fixed size and no cookie jar (each call used to start without cookies);
    a closed one, or one of another loop, is replaced.
    """
    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    key = (id(endpoint), id(loop))
    found = _SESSIONS.get(key)
    if found is not None and found[0] is endpoint and found[1] is loop and not found[2].closed:
        return found[2]
    if found is not None:
        _close(found[2])  # the session of a loop that is gone
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    else:
        auth = None
    session = aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    _SESSIONS[key] = (endpoint, loop, session)
    return session


def _close(session: Any) -> None:
    """Close a session's connections without a loop (``aiohttp`` does it at once)."""
    connector = session.connector
    if connector is not None and not connector.closed:
        with contextlib.suppress(RuntimeError):  # its loop is closed already
            connector.close()


def close_sessions() -> None:
    """Close every kept session's connections (at exit)."""
    for _, _, session in list(_SESSIONS.values()):
        _close(session)
    _SESSIONS.clear()


def _replacement(original: Callable[..., Any]) -> Callable[..., Any]:
    from aiohttp.client_exceptions import ContentTypeError
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils import endpoints

    async def request(
        self: Any,
        method: str = "post",
        subpath: Optional[str] = None,
        content_type: Optional[str] = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Optional[Any]:
        # Rasa's EndpointConfig.request, but through the kept session.
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type

        if "headers" in kwargs:
            headers.update(kwargs["headers"])
            del kwargs["headers"]

        if self.headers:
            headers.update(self.headers)

        url = endpoints.concat_url(self.url, subpath)

        sslcontext = None
        if self.cafile:
            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as e:
                raise FileNotFoundException(
                    f"Failed to find certificate file, "
                    f"'{endpoints.os.path.abspath(self.cafile)}' does not exist."
                ) from e

        session = shared_session(self)
        async with session.request(
            method,
            url,
            headers=headers,
            params=self.combine_parameters(kwargs),
            compress=compress,
            ssl=sslcontext,
            **kwargs,
        ) as response:
            if response.status >= 400:
                raise endpoints.ClientResponseError(
                    response.status,
                    response.reason,
                    await response.content.read(),
                )
            try:
                return await response.json()
            except ContentTypeError:
                return None

    request.__doc__ = original.__doc__
    request.__qualname__ = original.__qualname__
    request.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(request, _PATCHED, True)
    return request


def install() -> None:
    """Replace ``EndpointConfig.request`` (idempotent).

    Raises:
        PatchMismatchError: Rasa is not 3.6.21, or the methods are not the
            ones this patch was written for.
    """
    from rasa.utils.endpoints import EndpointConfig

    current = EndpointConfig.__dict__.get("request")
    if getattr(current, _PATCHED, False):
        return
    functions = {name: EndpointConfig.__dict__.get(name) for name in EXPECTED_SOURCES}
    require_rasa("endpoint_session", functions, EXPECTED_SOURCES)
    EndpointConfig.request = _replacement(current)  # type: ignore[method-assign]
    atexit.register(close_sessions)
