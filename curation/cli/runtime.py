"""`curate up`, `curate status`, `curate down`: the local runtime every command then uses
(a Prefect server with its UI and a Dask cluster, in the background; flows.local_runtime)."""

from __future__ import annotations

import click

from curation.cli.common import cli


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Dask worker processes (default: one per core).")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=4200, show_default=True,
              help="The Prefect server's port (another free one when it is taken).")
def up(workers, port) -> None:
    """Start the local runtime in the background; later commands finish a small job in under two seconds."""
    from flows.local_runtime import running, start

    before = running()
    state = start(workers, port)
    already = "already " if before is not None and before["pid"] == state["pid"] else ""
    click.echo(f"local runtime {already}up: Prefect UI at {state['ui']}, Dask at "
               f"{state['dask_address']} ({state['workers']} workers); `curate down` stops it")


@cli.command()
def status() -> None:
    """Say whether the local runtime runs, and where."""
    from flows.local_runtime import home, running

    state = running()
    if state is None:
        click.echo(f"no local runtime (runtime home {home()}); `curate up` starts one")
    else:
        click.echo(f"local runtime up since {state['started']} (pid {state['pid']}): Prefect UI at {state['ui']}, "
                   f"Dask at {state['dask_address']} ({state['workers']} workers)")


@cli.command()
def down() -> None:
    """Stop the local runtime and every process it started."""
    from flows.local_runtime import stop

    state = stop()
    click.echo("no local runtime was running" if state is None else f"local runtime stopped (pid {state['pid']})")
