"""A command per stage, named as the stage is (`curate minhash DIR --threshold 0.7`), its
options built from the stage's config model; and `curate dedup`, which runs the dedup stages
by method (--exact, --fuzzy, --semantic)."""

from __future__ import annotations

import sys

import click

from curation.cli.common import cli, echo_lines, record_lines, with_runtime_options
from curation.cli.options import build, decorate, decorate_with, field_options, given
from curation.errors import UserError
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.registry import stage_named, stage_of, stages
from curation.stage import Stage, StageConfig, prepared
from scorers.stage import ScoreConfig

# `curate dedup`'s methods and their stages; an option two of them share a name for takes the
# method's name in front (--fuzzy-keep, --semantic-keep).
DEDUP_METHODS = {"exact": "exact_dedup", "fuzzy": "minhash", "semantic": "semdedup"}


def run_stages(corpus_url: str, configs: list[StageConfig], workers: int | None, dask_address: str | None) -> None:
    """Check every stage before the runtime starts (seconds), then run each as a flow."""
    for config in configs:
        prepared(stage_of(config), corpus_url, config)
    from flows.runtime import runtime

    with runtime(workers, dask_address, say=lambda line: click.echo(line, err=True)) as running:
        for config in configs:
            echo_lines(record_lines(running.run_stage(corpus_url, config)))


def _about(stage: Stage) -> str:
    return (sys.modules[stage.config.__module__].__doc__ or stage.name).strip().split("\n\n")[0]


def add_stage_command(stage: Stage) -> None:
    """`curate NAME CORPUS [options]` for a stage whose whole config is its options."""
    options = field_options(stage.config)

    def command(corpus_dir: str, workers: int | None, dask_address: str | None, **values) -> None:
        run_stages(corpus_dir, [build(stage.config, options, given(options, values))], workers, dask_address)

    command = with_runtime_options(decorate(command, stage.config, options))
    cli.command(stage.name, help=_about(stage))(click.argument("corpus_dir")(command))


INPUT_OPTIONS = field_options(InputSpec, exclude=("path",))
INGEST_OPTIONS = field_options(IngestConfig, exclude=("inputs", "mode"))


@cli.command(help=_about(stage_named("ingest")))
@click.argument("sources", nargs=-1, required=True)
@click.option("--corpus", "corpus_dir", required=True, help="Corpus directory or URL to create or update.")
@click.option("--append", "mode", flag_value="append",
              help="Add these inputs to a corpus that has documents, as new parts (later stages redo only those).")
@click.option("--replace", "mode", flag_value="replace",
              help="Start over a corpus that already has documents (every later stage reruns).")
@with_runtime_options
@decorate_with(InputSpec, INPUT_OPTIONS)
@decorate_with(IngestConfig, INGEST_OPTIONS)
def ingest(sources, corpus_dir, mode, workers, dask_address, **values) -> None:
    inputs = [build(InputSpec, INPUT_OPTIONS, {"path": path, **given(INPUT_OPTIONS, values)}) for path in sources]
    fields = {"inputs": inputs, "mode": mode or "new", **given(INGEST_OPTIONS, values)}
    run_stages(corpus_dir, [build(IngestConfig, INGEST_OPTIONS, fields)], workers, dask_address)


SCORE_OPTIONS = field_options(ScoreConfig, exclude=("options",), flags={"name": "--as"})


@cli.command(help=_about(stage_named("score")))
@click.argument("corpus_dir")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A scorer option, e.g. --set min_doc_words=20 (repeatable).")
@with_runtime_options
@decorate_with(ScoreConfig, SCORE_OPTIONS)
def score(corpus_dir, settings, workers, dask_address, **values) -> None:
    config = build(ScoreConfig, SCORE_OPTIONS, {"options": key_values(settings), **given(SCORE_OPTIONS, values)})
    run_stages(corpus_dir, [config], workers, dask_address)


def key_values(settings: tuple[str, ...]) -> dict:
    """--set KEY=VALUE options, each value read as YAML (numbers, lists, true/false)."""
    import yaml

    options = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise UserError(f"--set takes KEY=VALUE, not {setting!r}")
        options[key] = yaml.safe_load(value)
    return options


def _dedup_options() -> dict[str, tuple[type[StageConfig], list]]:
    configs = {method: stage_named(name).config for method, name in DEDUP_METHODS.items()}
    seen = [field for config in configs.values() for field in config.model_fields]
    shared = tuple({field for field in seen if seen.count(field) > 1})
    return {method: (config, field_options(config, prefixed=shared, prefix=f"{method}_"))
            for method, config in configs.items()}


DEDUP_OPTIONS = _dedup_options()


@cli.command()
@click.argument("corpus_dir")
@click.option("--exact", is_flag=True, help="Exact dedup of normalised text (`curate exact_dedup`).")
@click.option("--fuzzy", is_flag=True, help="MinHash-LSH near-duplicates, verified (`curate minhash`).")
@click.option("--semantic", is_flag=True, help="SemDeDup on the embeddings (`curate semdedup`); run `curate embed` first.")
@with_runtime_options
@decorate_with(*DEDUP_OPTIONS["exact"])
@decorate_with(*DEDUP_OPTIONS["fuzzy"])
@decorate_with(*DEDUP_OPTIONS["semantic"])
def dedup(corpus_dir, exact, fuzzy, semantic, workers, dask_address, **values) -> None:
    """Mark duplicate documents in attrs/<stage> (documents are never rewritten). An option two
    methods share takes the method's name (--fuzzy-keep, --semantic-keep, --exact-scope)."""
    chosen = {"exact": exact, "fuzzy": fuzzy, "semantic": semantic}
    if not any(chosen.values()):
        raise UserError("choose a method: --exact, --fuzzy and/or --semantic")
    configs = []
    for method, (config, options) in DEDUP_OPTIONS.items():
        fields = given(options, values)
        if not chosen[method]:
            if fields:
                flag = next(o.flag for o in options if o.field in fields)
                raise UserError(f"{flag} goes with --{method}")
            continue
        configs.append(build(config, options, fields))
    run_stages(corpus_dir, configs, workers, dask_address)

for _stage in stages():
    if _stage.name not in ("ingest", "score", "ablate"):  # their commands take more than a corpus
        add_stage_command(_stage)
