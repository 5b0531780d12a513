"""Commands that read or maintain a corpus: `sql`, `report`, `verify`, `forget`, `scorers`."""

from __future__ import annotations

import click

from curation.cli.common import cli
from curation.errors import DataRejected, UserError

SQL_FORMATS = ("table", "csv", "json", "parquet")


@cli.command()
@click.argument("corpus_dir")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(SQL_FORMATS), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None, help="Write to a file.")
def sql(corpus_dir, query, fmt, output) -> None:
    """Run one read-only SQL query over the corpus views (docs, rejects, stages, corpus, <stage>)."""
    from curation.corpus import Corpus
    from curation.output import write_table

    write_table(Corpus.open(corpus_dir).sql(query), fmt, output)

@cli.command()
@click.argument("name")
@click.argument("corpus_dir")
@click.option("--format", "fmt", type=click.Choice(SQL_FORMATS), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None)
def report(name, corpus_dir, fmt, output) -> None:
    """Run a canned report: size, rejects, funnel, fuzzy_clusters, cluster_sizes, semdedup; or html,
    a self-contained page of plots (DIR/report.html unless --output)."""
    from curation.catalog import report_sql
    from curation.corpus import Corpus
    from curation.output import write_table

    if name == "html":
        from curation.report.html import write_report

        click.echo(f"report: {write_report(corpus_dir, output)}")
        return
    write_table(Corpus.open(corpus_dir).sql(report_sql(name)), fmt, output)

@cli.command()
@click.argument("corpus_dir")
def verify(corpus_dir) -> None:
    """Check every part against the checksums in corpus.json; name what is damaged and the remedy."""
    from curation.checksums import verify as verify_parts
    from curation.corpus import Corpus

    corpus = Corpus.open(corpus_dir)
    problems = verify_parts(corpus)
    for problem in problems:
        click.echo(f"damaged: {problem.replace('DIR', corpus_dir)}", err=True)
    checked = len(corpus.manifest().get("checksums", {}))
    if problems:
        raise DataRejected(f"{len(problems)} of {checked:,} parts are damaged or missing")
    click.echo(f"{checked:,} parts checked, all as recorded")

@cli.command()
@click.argument("corpus_dir")
@click.argument("stages", nargs=-1, required=True)
def forget(corpus_dir, stages) -> None:
    """Forget finished stages, so the next run redoes them (their outputs are rewritten then)."""
    from curation.corpus import Corpus

    corpus = Corpus.open(corpus_dir)
    unknown = [s for s in stages if corpus.stage(s) is None]
    if unknown:
        raise UserError(f"no finished stage named {', '.join(unknown)} in {corpus_dir}")
    with corpus.writer_lock("forget"):
        corpus.forget_stages(list(stages))
    click.echo(f"forgot {', '.join(stages)}; `curate run` (or the stage's command) redoes them")

@cli.command()
def scorers() -> None:
    """List the scorers `curate score` can run."""
    from scorers.base import SCORERS, scorer_class

    for name in sorted(SCORERS):
        scorer = scorer_class(name)
        click.echo(f"{name:<18} {(scorer.__doc__ or '').strip().splitlines()[0]}")
