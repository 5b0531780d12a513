"""`curate`: every stage as a subcommand. User mistakes exit 2 with one line, no traceback.

Flows (Prefect, Dask) are imported inside the commands that run them, so `curate sql` and
`curate report` start fast. The commands live by group: stages (one per stage, from its
declaration), select (selections, mixtures), ablate, models, corpus (sql, report, verify, forget),
pipeline (run, demo, deploy, serve), runtime (up, status, down).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

import click

from curation.cli import ablate, corpus, models, pipeline, runtime, select, stages  # noqa: F401  (they add the commands)
from curation.cli.common import cli
from curation.errors import DataRejected, Interrupted, UserError

__all__ = ["cli", "entry", "main"]


def main(argv: list[str] | None = None) -> int:
    with interruptible():
        return _main(argv)


def entry() -> None:
    """The `curate` program: ``main``, then exit. The exit frees what is left, but the collector
    would first walk all of it (a third of a second of a command taking under two)."""
    code = main()
    gc.freeze()
    sys.exit(code)


def _main(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="curate", standalone_mode=False)
    except Interrupted as interrupt:
        from curation.progress import work

        click.echo(work().describe(), err=True)
        return 128 + interrupt.signum
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.ctx.get_help() if error.ctx else str(error))
        return 0
    except click.UsageError as error:
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        click.echo(f"error: {error.format_message()}{hint}", err=True)
        return 2
    except UserError as error:
        click.echo(f"error: {error}", err=True)
        return 2
    except DataRejected as error:
        click.echo(f"error: {error}", err=True)
        return 1
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        return error.exit_code
    return 0


# How long the unwinding after a signal may take (a cluster closing, workers ending their task)
# before the command's children are killed and it exits anyway.
CLEANUP_S = 10


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the main thread, once; the cleanup that follows
    has CLEANUP_S seconds, then every process the command started is killed."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread (e.g. main() called from a test's thread)
        return

    def handle(signum, frame):
        for each in (signal.SIGINT, signal.SIGTERM):
            signal.signal(each, signal.SIG_IGN)  # one line, one unwinding
        threading.Thread(target=_kill_children_after, args=(signum,), daemon=True).start()
        raise Interrupted(signum)

    previous = {each: signal.signal(each, handle) for each in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def _kill_children_after(signum: int) -> None:
    import psutil

    time.sleep(CLEANUP_S)
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    click.echo(f"stopped after {CLEANUP_S} s of cleanup", err=True)
    os._exit(128 + signum)
