"""`curate`: every stage as a subcommand. User mistakes exit 2 with one line, no traceback.

Flows (Prefect, Dask) are imported inside the commands that run them, so `curate sql` and
`curate report` start fast. The commands live by group: stages (one per stage, from its
declaration), select (selections, mixtures), models, corpus (sql, report, verify, forget),
pipeline (run, demo, deploy, serve), runtime (up, status, down).
"""

from __future__ import annotations

import click

from curation.cli import corpus, models, pipeline, runtime, select, stages  # noqa: F401  (they add the commands)
from curation.cli.common import cli
from curation.errors import DataRejected, UserError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="curate", standalone_mode=False)
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
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    return 0
