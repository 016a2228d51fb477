"""The demo shop: a shop's page with the chat widget, as ``make run`` serves it.

It plays the part of a real shop's web server: for every page it mints the
signed-in buyer's token with the shop's secret (as ``shopbot token`` does) and
embeds the widget with one ``<script>`` tag pointing at the Rasa server. The
page template is ``web/demo/index.html``. Standard library only.

Command line::

    python -m bot.demo_shop --port 8080 --bot-url http://127.0.0.1:5005

``GET /?buyer=buyer_002&open=0`` shows the page as another demo buyer, with
the chat window closed.
"""

from __future__ import annotations

import argparse
import html
import logging
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional, Sequence, Type
from urllib.parse import parse_qs, urlsplit

from bot.auth import mint_token
from bot.settings import PROJECT_ROOT, load_settings

logger = logging.getLogger(__name__)

#: The page template; ``{{NAME}}`` placeholders are filled HTML-escaped.
TEMPLATE = PROJECT_ROOT / "web" / "demo" / "index.html"
#: Path of the widget's script on the Rasa server (the shop channel serves it).
WIDGET_PATH = "/webhooks/shop/widget.js"
DEFAULT_BUYER = "buyer_001"
#: Lifetime of the tokens the demo mints, in seconds.
TOKEN_TTL_S = 8 * 3600
_BUYER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def render_page(
    template: str,
    bot_url: str,
    token: str,
    buyer: str,
    open_chat: bool,
    evidence_url: Optional[str] = None,
) -> str:
    """Fill the page template.

    Args:
        template: The HTML with ``{{WIDGET_URL}}``, ``{{TOKEN}}``,
            ``{{BUYER}}`` and ``{{OPEN}}`` placeholders.
        bot_url: Base URL of the Rasa server, e.g. ``http://127.0.0.1:5005``.
        token: The buyer's token.
        buyer: The buyer id shown on the page.
        open_chat: Whether the chat window starts open.
        evidence_url: The evidence upload endpoint; None: no 📎 button.

    Returns:
        The page, every value HTML-escaped.
    """
    values = {
        "WIDGET_URL": bot_url.rstrip("/") + WIDGET_PATH,
        "TOKEN": token,
        "BUYER": buyer,
        "OPEN": "true" if open_chat else "false",
        "EVIDENCE_URL": evidence_url or "",
    }
    page = template
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", html.escape(value, quote=True))
    return page


def _origin(url: str) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(url))


def content_security_policy(bot_url: str, evidence_url: Optional[str] = None) -> str:
    """Return the demo page's CSP: scripts from the bot server, calls to it and the upload."""
    origin = _origin(bot_url)
    connect = " ".join(dict.fromkeys([origin, *([_origin(evidence_url)] if evidence_url else [])]))
    return (
        f"default-src 'none'; script-src {origin}; connect-src {connect}; "
        "style-src 'unsafe-inline'; img-src 'self' data: blob:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def handler_class(
    bot_url: str, secret: str, template: str, evidence_url: Optional[str] = None
) -> Type[BaseHTTPRequestHandler]:
    """Return the request handler of a demo shop.

    Args:
        bot_url: Base URL of the Rasa server.
        secret: The JWT secret the Rasa server verifies tokens with.
        template: The page template.
        evidence_url: The evidence upload endpoint, if any.
    """
    policy = content_security_policy(bot_url, evidence_url)

    class DemoShopHandler(BaseHTTPRequestHandler):
        """Serves the demo page at ``/``; anything else is 404."""

        server_version = "shopbot-demo-shop"

        def do_GET(self) -> None:
            """Answer a page request."""
            parts = urlsplit(self.path)
            if parts.path not in ("/", "/index.html"):
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
                return
            query = parse_qs(parts.query)
            buyer = query.get("buyer", [DEFAULT_BUYER])[0]
            if not _BUYER_ID.match(buyer):
                self._send(HTTPStatus.BAD_REQUEST, "text/plain", b"bad buyer id\n")
                return
            open_chat = query.get("open", ["1"])[0] not in ("0", "false")
            token = mint_token(secret, buyer, role="buyer", ttl_seconds=TOKEN_TTL_S)
            page = render_page(template, bot_url, token, buyer, open_chat, evidence_url)
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", page.encode("utf-8"))

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Log requests without their query (no ids or tokens in logs)."""
            logger.info("demo shop: %s %s", self.command, urlsplit(self.path).path)

    return DemoShopHandler


def make_server(
    host: str,
    port: int,
    bot_url: str,
    secret: str,
    template: Optional[Path] = None,
    evidence_url: Optional[str] = None,
) -> ThreadingHTTPServer:
    """Create (bind, not yet serve) a demo shop server.

    Args:
        host: Interface to listen on.
        port: TCP port (0: any free port).
        bot_url: Base URL of the Rasa server the widget talks to.
        secret: The JWT secret shared with the Rasa server.
        template: The page template; ``web/demo/index.html`` by default.
        evidence_url: The evidence upload endpoint the widget posts photos to.

    Returns:
        The server; call ``serve_forever()`` (and ``shutdown()`` to stop).
    """
    text = (template or TEMPLATE).read_text(encoding="utf-8")
    return ThreadingHTTPServer((host, port), handler_class(bot_url, secret, text, evidence_url))


def serve_in_background(server: ThreadingHTTPServer) -> str:
    """Serve ``server`` in a daemon thread (tests, benchmarks).

    Returns:
        The shop's base URL; stop with ``server.shutdown()``.
    """
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def main(argv: Sequence[str]) -> int:
    """Serve the demo shop until interrupted; return an exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot.demo_shop", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bot-url", default="http://127.0.0.1:5005")
    parser.add_argument("--evidence-url", default=None, help="the evidence upload endpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server = make_server(
        args.host,
        args.port,
        args.bot_url,
        load_settings().signing_secret(),
        evidence_url=args.evidence_url,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
