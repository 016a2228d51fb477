"""A terminal chat with the running bot, as a buyer of this machine.

It mints a token with the local secret and talks to the ``shop`` channel, so
it works only where that secret is (this machine). Buttons are numbered; type
the number to press one.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, TextIO

from bot.auth import mint_token
from bot.settings import Settings


def send(url: str, token: str, sender: str, text: str) -> List[Dict[str, Any]]:
    """Send one message to the shop channel and return the bot's messages."""
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the bot's own http URL
        f"{url.rstrip('/')}/webhooks/shop/webhook",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 - local URL
        messages: List[Dict[str, Any]] = json.loads(reply.read().decode("utf-8"))
    return messages


def run_chat(
    settings: Settings,
    url: str,
    buyer_id: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    """Read lines from ``stdin`` and print the bot's answers until EOF."""
    token = mint_token(settings.signing_secret(), buyer_id, ttl_seconds=12 * 3600)
    sender = f"cli-{buyer_id}-{uuid.uuid4().hex[:8]}"
    buttons: List[Dict[str, str]] = []
    print(f"chatting as {buyer_id} with {url} (Ctrl-D to quit)", file=stdout)
    while True:
        stdout.write("you> ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            messages = send(url, token, sender, text)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"! the bot did not answer: {exc}", file=stdout)
            continue
        buttons = []
        for message in messages:
            if message.get("text"):
                print(f"bot> {message['text']}", file=stdout)
            for button in message.get("buttons") or []:
                buttons.append(button)
                print(f"     [{len(buttons)}] {button.get('title', '')}", file=stdout)
