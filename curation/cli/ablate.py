"""`curate ablate`: proxy models trained on arms at equal tokens, compared on held-out text."""

from __future__ import annotations

import click

from curation.ablate.stage import AblateConfig
from curation.cli.common import cli, with_runtime_options
from curation.cli.options import build, decorate_with, field_options, given
from curation.cli.stages import run_stages
from curation.errors import UserError

ABLATE_OPTIONS = field_options(AblateConfig, exclude=("name", "arms"))


def parse_arms(arms: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for arm in arms:
        name, sep, source = arm.partition("=")
        if not sep or not name or not source:
            raise UserError(f"--arm takes NAME=SOURCE (a selection, a mixture or all), not {arm!r}")
        if name in parsed:
            raise UserError(f"two arms are named {name}")
        parsed[name] = source
    return parsed


@cli.command()
@click.argument("name")
@click.argument("corpus_dir")
@click.option("--arm", "arms", multiple=True, required=True, metavar="NAME=SOURCE",
              help="An arm: its name and documents (a selection, a mixture, or all); repeat it. The first is the baseline.")
@with_runtime_options
@decorate_with(AblateConfig, ABLATE_OPTIONS)
def ablate(name, corpus_dir, arms, workers, dask_address, **values) -> None:
    """Train the same small language model for the same tokens on each arm, --seeds times, and
    compare held-out bits per byte: ablations/NAME, the views ablation_NAME and ablation_NAME_summary."""
    config = build(AblateConfig, ABLATE_OPTIONS, {"name": name, "arms": parse_arms(arms), **given(ABLATE_OPTIONS, values)})
    run_stages(corpus_dir, [config], workers, dask_address)
