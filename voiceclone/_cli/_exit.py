"""Exit statuses of the command, and the error that ends it with a usage status.

Scripts act on these, so each names one kind of outcome and they never change.
"""

from __future__ import annotations

from typing import Final

from voiceclone import AuthenticationError, ConfigurationError
from voiceclone._breaker import is_account_refusal

__all__ = [
    "ACCOUNT",
    "CONFIG",
    "FAILED",
    "INTERRUPTED",
    "JOURNAL",
    "OK",
    "PIPE_CLOSED",
    "TERMINATED",
    "USAGE",
    "SetupError",
    "UsageError",
    "failure_status",
]

OK: Final = 0
#: Some (or all) voices failed; the others were cloned.
FAILED: Final = 1
#: Bad arguments, manifest or input: nothing was sent.
USAGE: Final = 2
#: Configuration or authentication: no key, a key the server refuses, a bad base URL.
#: Retrying will not help until the setup is fixed.
CONFIG: Final = 3
#: The batch journal (or the ``--out`` file) cannot be read or written: a full disk,
#: a damaged file. What the journal recorded stays valid and a re-run resumes.
JOURNAL: Final = 4
#: The account cannot clone: no balance, a spent quota, no cloning permission (a
#: dead key is `CONFIG`). The batch stopped sending; what was
#: not sent is sent by a re-run once the account is fixed.
ACCOUNT: Final = 5
#: Stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED: Final = 130
#: The reader of stdout went away (``| head``): 128 + SIGPIPE, what a shell reports
#: for a program the closed pipe stopped.
PIPE_CLOSED: Final = 141
#: Stopped by SIGTERM (128 + SIGTERM).
TERMINATED: Final = 143


class UsageError(Exception):
    """A problem with how the command was called; reported on stderr with exit status 2."""


class SetupError(UsageError):
    """A configuration problem (no API key): reported on stderr with exit status 3."""


def failure_status(*errors: BaseException | None) -> int:
    """`FAILED`, or `CONFIG` / `ACCOUNT` when one of ``errors`` is not about a voice.

    The setup's (`CONFIG`): a key the server refuses, a bad base URL. The account's
    (`ACCOUNT`): no balance, a spent quota, no cloning permission.
    Retrying will not help until either is fixed.
    """
    setup = any(isinstance(error, (AuthenticationError, ConfigurationError)) for error in errors)
    if setup:
        return CONFIG
    return ACCOUNT if any(is_account_refusal(error) for error in errors if error) else FAILED
