"""Progress of long work on the terminal: done of total, items per second, time left.

Shown only on an interactive terminal unless CURATION_PROGRESS=1; CURATION_PROGRESS=0 (or
`curate --quiet`) hides it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def enabled() -> bool:
    setting = os.environ.get("CURATION_PROGRESS")
    return setting == "1" if setting is not None else sys.stderr.isatty()


@contextlib.contextmanager
def progress(label: str, total: int, unit: str = "shards", parts: int | None = None) -> Iterator[Callable[..., None]]:
    """Yields ``advance(amount=1)``, to call as items finish. With ``parts``, the bar also counts
    the parts done of ``parts`` (items are then e.g. documents, and each call finishes a part)."""
    if not enabled() or total == 0:
        yield lambda amount=1: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TaskProgressColumn(show_speed=True),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        done = 0

        def describe() -> str:
            return f"{label:<12}" + (f" {done}/{parts} parts" if parts else "")

        task = bar.add_task(describe(), total=total)

        def advance(amount: int = 1) -> None:
            nonlocal done
            done += 1
            bar.update(task, advance=amount, description=describe())

        yield advance
