"""Progress of long work: what a driver is doing (``work()``, for the line an interrupted command
prints) and bars on the terminal (done of total, items per second, time left).

Bars show only on an interactive terminal unless CURATION_PROGRESS=1; CURATION_PROGRESS=0 (or
`curate --quiet`) hides them. A driver on the local runtime (flows.remote) reports both to the
command that started it, which follows them here (``Follower``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

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


@dataclass
class Work:
    """What a driver is doing. With ``report``, every change is also sent there as a dict."""

    stage: str | None = None
    step: str = ""
    done: int = 0
    total: int | None = None  # of a mapped step's items
    unit: str = ""
    report: Callable[[dict], None] | None = field(default=None, repr=False)

    def start(self, stage: str | None = None, step: str = "") -> None:
        self.update(stage=stage, step=step, done=0, total=None, unit="")

    def advance(self) -> None:
        self.update(done=self.done + 1)

    def update(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        if self.report is not None:
            self.report({"work": changes})

    def describe(self) -> str:
        if self.stage is None:
            return "interrupted; rerun to resume"
        if self.total is None:
            return f"interrupted: {self.stage}, in its {self.step} step; rerun to resume"
        return f"interrupted: {self.stage}, {self.done} of {self.total} {self.unit} done; rerun to resume"


# This process's work, unless the context drives for a command elsewhere (``reported_to``):
# drivers of several commands may share a runtime's worker.
_THIS_PROCESS = Work()
_WORK: ContextVar[Work | None] = ContextVar("curation_work", default=None)


def work() -> Work:
    return _WORK.get() or _THIS_PROCESS


@contextlib.contextmanager
def reported_to(report: Callable[[dict], None]) -> Iterator[None]:
    """In this context, work and progress go to ``report`` instead of this terminal."""
    token = _WORK.set(Work(report=report))
    try:
        yield
    finally:
        _WORK.reset(token)


class Follower:
    """Applies a remote driver's reports here: to ``work()`` and to progress bars of its own."""

    def __init__(self):
        self._bar = contextlib.ExitStack()
        self._advance: Callable[..., None] | None = None

    def apply(self, event: dict) -> None:
        if "work" in event:
            work().update(**event["work"])
        elif "begin" in event:
            self.close()
            self._advance = self._bar.enter_context(progress(*event["begin"]))
        elif "advance" in event and self._advance is not None:
            self._advance(event["advance"])
        elif "end" in event:
            self.close()

    def close(self) -> None:
        self._bar.close()
        self._advance = None


def enabled() -> bool:
    setting = os.environ.get("CURATION_PROGRESS")
    return setting == "1" if setting is not None else sys.stderr.isatty()


@contextlib.contextmanager
def progress(label: str, total: int, unit: str = "shards", parts: int | None = None) -> Iterator[Callable[..., None]]:
    """Yields ``advance(amount=1)``, to call as items finish. With ``parts``, the bar also counts
    the parts done of ``parts`` (items are then e.g. documents, and each call finishes a part)."""
    if (report := work().report) is not None:
        report({"begin": [label, total, unit, parts]})
        try:
            yield lambda amount=1: report({"advance": amount})
        finally:
            report({"end": True})
        return
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
