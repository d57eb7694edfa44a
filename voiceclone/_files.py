"""Writing local files safely: whole or not at all, private, never through a planted link.

A file the SDK writes (a preview download, the note naming a journal's owner) is
first written to a new file beside its target, under a random name, created
exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``) with mode 0600: a file or
symbolic link planted at that name is refused, never followed or overwritten, and
no other user can read the bytes while they are written. The file is then flushed
to disk and renamed onto the target in one step (``os.replace``), which replaces a
link at the target instead of writing through it. So a reader sees the old file or
the whole new one, and a failure leaves nothing behind.

Failures are `ValidationError` naming the caller's field, never a bare ``OSError``:
`check_target` finds what can be known before anything is sent (no such folder, a
folder as the target), `write_file` reports what only the write can find (a full
disk, a folder removed meanwhile).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from ._errors import ValidationError

__all__ = [
    "NO_LINK",
    "PRIVATE_MODE",
    "check_target",
    "create_private",
    "reason",
    "write_all",
    "write_file",
]

#: Files the SDK creates are readable by their owner only: previews and journals are
#: the user's data, and the folder they land in may be shared.
PRIVATE_MODE: Final = 0o600

#: Random bytes in a temporary name: 2**64 names cannot be planted in advance.
_TEMP_NAME_BYTES: Final = 8
#: Fresh names tried when one is taken; a clash at 2**64 means files are being planted.
_TEMP_ATTEMPTS: Final = 4
#: Characters of the target's name kept in the temporary name, so that the two fit in
#: the 255 bytes most file systems allow.
_TEMP_NAME_PREFIX: Final = 64

#: Flags of every open of the SDK's own files (previews, journals): never through a
#: symbolic link, never inherited by a child process. POSIX; absent elsewhere.
NO_LINK: Final = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_EXCLUSIVE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_LINK


def reason(exc: OSError) -> str:
    """What went wrong, in the system's words."""
    return exc.strerror or type(exc).__name__


def _stat(path: Path, field: str) -> os.stat_result | None:
    """``os.stat`` (following links) or ``None`` when nothing is there."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        why = reason(exc) if isinstance(exc, OSError) else str(exc)
        raise ValidationError(field, f"cannot use {str(path)!r}: {why}") from None


def check_target(path: object, field: str = "path") -> Path:
    """``path`` as a file that can be written, checked before anything is sent.

    Raises:
        ValidationError: ``path`` is not a path, names a folder, or its folder does
            not exist or cannot be written to.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValidationError(field, f"must be a path, got {type(path).__name__}")
    try:
        target = Path(path)
    except TypeError:  # an os.PathLike of bytes
        raise ValidationError(field, "must be a str path") from None
    if not target.name:
        raise ValidationError(field, f"{str(target)!r} names a folder; name a file in it")
    found = _stat(target, field)
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise ValidationError(field, f"{str(target)!r} is a folder; name a file in it")
    folder = _stat(target.parent, field)
    if folder is None or not stat.S_ISDIR(folder.st_mode):
        raise ValidationError(field, f"the folder {str(target.parent)!r} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise ValidationError(field, f"the folder {str(target.parent)!r} is not writable")
    return target


def create_private(path: Path) -> int:
    """A new file at ``path``, mode 0600, opened for writing; never an existing one.

    A file or a symbolic link already at ``path`` raises ``FileExistsError``: the
    link is not followed, its target is not touched.
    """
    return os.open(path, _EXCLUSIVE, PRIVATE_MODE)


def _new_temp(target: Path) -> tuple[Path, int]:
    for _ in range(_TEMP_ATTEMPTS):
        token = secrets.token_hex(_TEMP_NAME_BYTES)
        temp = target.with_name(f".{target.name[:_TEMP_NAME_PREFIX]}.{token}.part")
        try:
            return temp, create_private(temp)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "every temporary name tried was taken", str(target))


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_file(target: Path, data: bytes, field: str = "path") -> Path:
    """Write ``data`` to ``target`` whole or not at all (see the module docstring).

    Blocking (it waits for the disk): call it from a worker thread in async code.

    Raises:
        ValidationError: the file cannot be written; nothing is left behind.
    """
    try:
        temp, fd = _new_temp(target)
    except OSError as exc:
        raise ValidationError(field, f"cannot write {str(target)!r}: {reason(exc)}") from None
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)  # on disk before the rename makes it visible under its name
        finally:
            os.close(fd)
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):  # already gone with its folder: nothing is left
            os.unlink(temp)
        raise ValidationError(field, f"cannot write {str(target)!r}: {reason(exc)}") from None
    return target
