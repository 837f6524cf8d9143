"""Atomic output files: write beside the target under a temporary name, then rename into place."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def open_temp_beside(target: Path) -> tuple[int, str]:
    """Create and open (write-only) a new hidden file in ``target``'s folder, keeping its extension.

    Returns (file descriptor, path). The folder must exist. Unlike ``tempfile.mkstemp`` (mode 0600),
    the file gets the permissions the user's umask gives any new file, and keeps them when it is
    renamed onto ``target``. Raises OSError when the folder is not writable.
    """
    for _ in range(100):
        path = target.parent / f".{target.stem}.{secrets.token_hex(4)}.part{target.suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {str(target)!r}")
