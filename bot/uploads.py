"""The upload folder: evidence photos on disk under generated names.

Files are written atomically (a temporary file in the same folder, flushed
to disk, then renamed), so a reader never sees half a photo and a failure
leaves nothing behind. Names are generated (:func:`new_stored_name`) and
every read checks the name (:func:`bot.evidence.is_stored_name`), so no
buyer-supplied text ever becomes part of a path.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from bot.evidence import EXTENSIONS, is_stored_name


class StoredNameError(ValueError):
    """A name that is not one this module generated (a path trick)."""


def new_stored_name(mime: str) -> str:
    """Return a fresh random name for a file of an accepted type."""
    return f"{uuid.uuid4().hex}.{EXTENSIONS[mime]}"


def stored_path(folder: Path, name: str) -> Path:
    """Return the path of a stored file.

    Raises:
        StoredNameError: ``name`` is not a generated name.
    """
    if not is_stored_name(name):
        raise StoredNameError("not a stored evidence name")
    return folder / name


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``folder/name``, all or nothing.

    Args:
        folder: The upload folder (created when missing, private to the owner).
        name: A generated name.
        data: The content.

    Returns:
        The file's path.

    Raises:
        StoredNameError: ``name`` is not a generated name.
        OSError: The disk failed; no file is left behind.
    """
    target = stored_path(folder, name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def remove(folder: Path, name: str) -> None:
    """Delete a stored file if it exists (undoing a write whose record failed)."""
    stored_path(folder, name).unlink(missing_ok=True)


__all__ = ["StoredNameError", "new_stored_name", "remove", "stored_path", "write_atomically"]
