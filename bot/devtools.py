"""Small helpers for the project's scripts (``python -m bot.devtools ...``).

wait-http URL SECONDS   wait until URL answers any HTTP status < 500
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from typing import Sequence


def wait_http(url: str, timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll ``url`` until it answers with a status below 500.

    Returns:
        True when it answered in time, False otherwise.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - local URL
                if reply.status < 500:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(interval_s)
    return False


def main(argv: Sequence[str]) -> int:
    """Run one helper; return an exit code."""
    if len(argv) == 3 and argv[0] == "wait-http":
        if wait_http(argv[1], float(argv[2])):
            return 0
        print(f"{argv[1]} did not answer within {argv[2]} s", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
