"""The Rasa code the patches were written for, and the one check of it.

Every patch module names the Rasa functions it replaces or relies on with the
SHA-256 of their source in Rasa 3.6.21, and calls :func:`require_rasa` before
it changes anything: another Rasa release, or the same release with other
code, stops the server at start-up instead of running a patch on code it was
not written for.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any, Callable, Mapping, Optional

#: The Rasa release the patches were written for.
RASA_VERSION = "3.6.21"


class PatchMismatchError(RuntimeError):
    """The installed Rasa is not the one a patch was written for."""


def source_sha256(function: Callable[..., Any]) -> str:
    """Return the SHA-256 (hex) of a function's source text."""
    return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()


def require_rasa(
    patch: str,
    functions: Mapping[str, Optional[Callable[..., Any]]],
    expected: Mapping[str, str],
) -> None:
    """Raise unless Rasa is :data:`RASA_VERSION` and its functions are the expected code.

    Args:
        patch: The patch module's short name (for the message).
        functions: The Rasa functions by name (``Class.method``); None when missing.
        expected: The SHA-256 (hex, or its first 16 or more digits) of each
            function's source, by the same names.

    Raises:
        PatchMismatchError: Another Rasa release, or a function missing or changed.
    """
    import rasa

    if rasa.__version__ != RASA_VERSION:
        raise PatchMismatchError(
            f"shopbot_rasa.patches.{patch} is written for Rasa {RASA_VERSION}, "
            f"found {rasa.__version__}: review the patch"
        )
    for name, digest in expected.items():
        function = functions.get(name)
        found = "missing" if function is None else source_sha256(function)
        if not found.startswith(digest):
            raise PatchMismatchError(
                f"shopbot_rasa.patches.{patch}: {name} is not the function of Rasa "
                f"{RASA_VERSION} it was written for (source {found[:16]}, expected "
                f"{digest[:16]}): review the patch"
            )
