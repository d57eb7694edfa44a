"""The API key and the client, configured from the command line and the environment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from voiceclone import Client
from voiceclone._cli._exit import SetupError

__all__ = ["make_client", "read_api_key"]


def read_api_key(args: argparse.Namespace) -> str | None:
    """The key from ``--api-key-file``, or ``None`` to let the client read ``MINIMAX_API_KEY``.

    Raises:
        SetupError: the key file cannot be read or is empty.
    """
    path = getattr(args, "api_key_file", None)
    if path is None:
        return None
    # The value is never quoted back: a key pasted where its file's path goes would be
    # printed, and logged by whatever keeps the command's output.
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        reason = exc.strerror or "cannot be read"
        raise SetupError(
            f"--api-key-file: {reason} (the value given is not shown: it takes the path of a "
            "file holding the key, never the key itself)"
        ) from None
    except UnicodeDecodeError:
        raise SetupError("--api-key-file: not a text file") from None
    if not key:
        raise SetupError("--api-key-file: the file is empty")
    return key


def make_client(args: argparse.Namespace, **options: Any) -> Client:
    """A `Client` for the real API (or whatever ``--base-url`` points at).

    Raises:
        SetupError: no key in the environment or the key file.
        voiceclone.ConfigurationError: a malformed base URL.
    """
    key = read_api_key(args)
    if key is None and not os.environ.get("MINIMAX_API_KEY", "").strip():
        raise SetupError("no API key: set MINIMAX_API_KEY or pass --api-key-file PATH")
    return Client(api_key=key, base_url=getattr(args, "base_url", None), **options)
