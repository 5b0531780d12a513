"""`curate select` and `curate mix`: selections and training mixtures."""

from __future__ import annotations

import click

from curation.cli.common import cli, echo_lines
from curation.cli.options import build, decorate_with, field_options, given
from curation.mixture.plan import MixtureConfig
from curation.select.selection import SelectionConfig, run_selection

SELECT_OPTIONS = field_options(SelectionConfig)


@cli.command()
@click.argument("name")
@click.argument("corpus_dir")
@decorate_with(SelectionConfig, SELECT_OPTIONS)
def select(name, corpus_dir, **values) -> None:
    """Write selections/NAME (id, repeats, why) and the SQL view selection_NAME: the documents
    passing --where, then at most one policy (none: all of them)."""
    from curation.corpus import Corpus

    config = build(SelectionConfig, SELECT_OPTIONS, given(SELECT_OPTIONS, values))
    with Corpus.open(corpus_dir).writer_lock("select"):
        echo_lines(run_selection(corpus_dir, name, config))


MIX_OPTIONS = field_options(MixtureConfig)


@cli.command()
@click.argument("name")
@click.argument("corpus_dir")
@decorate_with(MixtureConfig, MIX_OPTIONS)
def mix(name, corpus_dir, **values) -> None:
    """Emit mixtures/NAME: data per domain, manifest.json with the schedule, trainer exports."""
    from curation.corpus import Corpus
    from curation.mixture.emit import emit_mixture

    config = build(MixtureConfig, MIX_OPTIONS, given(MIX_OPTIONS, values))
    corpus = Corpus.open(corpus_dir)
    with corpus.writer_lock("mix"):
        echo_lines(emit_mixture(corpus_dir, name, config))
