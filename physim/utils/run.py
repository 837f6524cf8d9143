"""Helpers for scene scripts: where to write outputs, and a progress bar for long loops."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

OUTPUT_ENV = "PHYSIM_OUT"


def output_dir() -> Path:
    """The folder a scene script writes to: ``physim run --out DIR``, else ``$PHYSIM_OUT``, else ``out/``.

    Created if missing.
    """
    path = Path(os.environ.get(OUTPUT_ENV, "out"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def progress(iterable: Iterable[T], desc: str = "simulating", total: int | None = None) -> Iterator[T]:
    """A progress bar on stderr for long loops (quiet when stderr is not a terminal, e.g. in CI logs)."""
    return iter(tqdm(iterable, desc=desc, total=total, unit="step", disable=None, file=sys.stderr,
                     dynamic_ncols=True))
