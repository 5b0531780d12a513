"""`curate run` (a pipeline file), `demo`, and scheduled runs: `deploy`, `serve`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from curation.cli.common import cli, echo_lines, record_lines, with_runtime_options
from curation.errors import UserError


@cli.command()
@click.argument("pipeline", type=click.Path())
@with_runtime_options
def run(pipeline, workers, dask_address) -> None:
    """Run every stage of a pipeline file; finished stages with unchanged inputs are skipped."""
    from curation.config import load_config

    config = load_config(pipeline)
    _run_pipeline(config, workers or config.workers, dask_address or config.dask_address)


def _run_pipeline(config, workers, dask_address) -> None:
    """What can fail without a runtime fails first (seconds, not a server start): inputs, a held
    lock, score table names, selections and mixtures."""
    from curation.corpus import MANIFEST, Corpus
    from curation.ingest.stage import input_files
    from curation.registry import check_instance_name
    from curation.select.store import check_name

    input_files(config.ingest)
    corpus = Corpus(config.corpus)
    if corpus.fs.exists(corpus.path(MANIFEST)):
        corpus.writer_lock("run").check_free()
    for table in [score.table for score in config.stages.scores] + [c.name for c in config.stages.quality_classifiers]:
        check_instance_name(table, "a score table name")
    for name in config.selections:
        check_name(name)
    for name in config.mixtures:
        check_name(name, "a mixture name")
    for name in config.ablations:
        check_instance_name(name, "an ablation name")

    from flows.runtime import runtime

    with runtime(workers, dask_address, say=lambda line: click.echo(line, err=True)) as running:
        results = running.run_pipeline(config)
    for name, result in results.items():
        if isinstance(result, list):
            echo_lines(result)
        elif isinstance(result, str):
            click.echo(f"{name}: {result}")
        else:
            echo_lines(record_lines(result))


@cli.command()
@click.argument("directory", default="demo-corpus", type=click.Path(file_okay=False))
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
              help="Where scripts/fetch-demo-data unpacked the Debian packages.")
@click.option("--limit", type=click.IntRange(min=1), default=6000, show_default=True, help="Most documents per source.")
@with_runtime_options
def demo(directory, data_dir, limit, workers, dask_address) -> None:
    """Build a real multi-domain corpus from offline text and run the whole pipeline on it."""
    from curation.config import load_config
    from curation.demo.build import DEFAULT_DATA_DIR, build_raw, pipeline_template

    target = Path(directory)
    click.echo(f"building the demo inputs in {target / 'raw'} ...")
    build_raw(Path(data_dir) if data_dir else DEFAULT_DATA_DIR, target / "raw", limit)
    (target / "pipeline.yaml").write_text(pipeline_template())
    config = load_config(str(target / "pipeline.yaml"))
    _run_pipeline(config, workers, dask_address)
    corpus = config.corpus
    # Outside an activated venv, show the path that works (e.g. .venv/bin/curate).
    curate = sys.argv[0] if sys.argv[0].endswith("curate") and not shutil.which("curate") else "curate"
    click.echo("\nTry next:")
    for line in (
        f'curate sql {corpus} "SELECT source, domain, count(*) AS docs FROM docs GROUP BY ALL ORDER BY docs DESC"',
        f"curate report size {corpus}",
        f"curate report rejects {corpus}",
        f"curate report funnel {corpus}",
        f'curate sql {corpus} "SELECT source, count(*) AS duplicates FROM corpus WHERE NOT exact_dedup.keep GROUP BY ALL"',
        f'curate sql {corpus} "SELECT d.id, d.duplicate_of FROM exact_dedup d WHERE NOT keep LIMIT 10"',
        f'curate sql {corpus} "SELECT reason, count(*) AS docs FROM heuristics GROUP BY ALL ORDER BY docs DESC"',
        f'curate sql {corpus} "SELECT langid.language, count(*) AS docs FROM corpus GROUP BY ALL ORDER BY docs DESC"',
        f'curate sql {corpus} "SELECT source, avg(quality_docs.score) AS quality, avg(quality_docs.keep::INT) AS kept '
        'FROM corpus GROUP BY ALL ORDER BY quality DESC"',
        f"curate report fuzzy_clusters {corpus}",
        f"curate report cluster_sizes {corpus}",
        f"curate report semdedup {corpus}",
        f'curate sql {corpus} "SELECT domain, count(*) AS picked FROM docs JOIN selection_balanced USING (id) GROUP BY ALL"',
        f'curate sql {corpus} "SELECT domain, count(*) AS docs, sum(tokens) AS tokens FROM mixture_demo GROUP BY ALL"',
        f'curate sql {corpus} "SELECT arm, eval_set, bits_per_byte, difference, excludes_zero '
        'FROM ablation_curated_vs_random_summary"',
    ):
        click.echo(f"  {line.replace('curate', curate, 1)}")
    mixture = Path(corpus) / "mixtures" / "demo"
    click.echo(f"\nA trainer reads the mixture {mixture} (manifest.json has the schedule, Megatron blends and\n"
               "interleave_datasets probabilities) as a deterministic, resumable stream:")
    click.echo(f"  from curation.mixture import stream\n  for doc in stream({str(mixture)!r}, start_step=0):\n"
               "      doc['step'], doc['phase'], doc['domain'], doc['text']")

@cli.command()
@click.argument("pipeline", type=click.Path())
@click.option("--cron", required=True, help='When to run, e.g. "0 3 * * *" (03:00 every day).')
@click.option("--name", required=True, help="The deployment's name.")
def deploy(pipeline, cron, name) -> None:
    """Register a scheduled run of a pipeline file on the Prefect server at PREFECT_API_URL."""
    _prefect_server_and(pipeline)
    from flows.deploy import check_cron
    from flows.deploy import deploy as register

    check_cron(cron)

    deployment = register(pipeline, cron, name)
    click.echo(f"deployment scheduled-pipeline/{name} ({deployment}): {cron}; `curate serve` runs it when due")


@cli.command()
@click.option("--name", "names", multiple=True, help="Serve only these deployments (default: all of scheduled-pipeline).")
def serve(names) -> None:
    """Run the registered pipeline deployments when they are due (until stopped)."""
    _prefect_server_and(None)
    from flows.deploy import serve as serve_deployments

    serve_deployments(tuple(names))


def _prefect_server_and(pipeline: str | None) -> None:
    """A schedule lives on a Prefect server: one must be named, and the pipeline must load."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        from flows.runtime import configured_api

        if not configured_api():
            raise UserError("set PREFECT_API_URL to your Prefect server (e.g. http://127.0.0.1:4200/api after "
                            "`prefect server start`)")
    if pipeline is not None:
        from curation.config import load_config

        load_config(pipeline)
