"""CORS of the buyer-facing endpoints: only the configured shop origins.

The web widget runs on a shop's page (one origin) and talks to the Rasa
server's shop channel and to the evidence upload (other origins). A
browser lets it do so only when the answer names the page's origin;
origins not in ``SHOPBOT_CORS_ORIGINS`` get no CORS header, and the
endpoints refuse their requests outright (403). Standard library only: the
Rasa-side channels (Python 3.10) use it too.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

#: Methods and request headers the widget uses.
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
#: How long a browser may cache a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = "600"


def origin_allowed(origin: Optional[str], allowed: Iterable[str]) -> bool:
    """Tell whether a request's ``Origin`` may call the channel.

    A request without ``Origin`` (a server, curl, the store's back end) is not
    a cross-origin browser call and is allowed; a browser's is allowed only
    from a configured origin (compared case-insensitively).
    """
    if origin is None:
        return True
    return origin.strip().rstrip("/").lower() in set(allowed)


def cors_headers(origin: Optional[str], allowed: Iterable[str], preflight: bool) -> Dict[str, str]:
    """Return the CORS headers of an answer to a request from ``origin``.

    Args:
        origin: The request's ``Origin`` header, if any.
        allowed: The configured origins (lower case, no trailing slash).
        preflight: Whether the request is an ``OPTIONS`` preflight.

    Returns:
        The headers to add; none for a missing or unlisted origin.
    """
    if origin is None or not origin_allowed(origin, allowed):
        return {}
    headers = {"Access-Control-Allow-Origin": origin.strip(), "Vary": "Origin"}
    if preflight:
        headers.update(
            {
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            }
        )
    return headers
