"""`curate`: every stage as a subcommand. User mistakes exit 2 with one line, no traceback.

Flows (Prefect, Dask) are imported inside the commands that run them, so `curate sql` and
`curate report` start fast.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from curation.errors import DataRejected, UserError

SQL_FORMATS = ("table", "csv", "json", "parquet")


def _quiet_orchestration(verbose: bool) -> None:
    # Environment, not logging calls: Dask worker processes inherit it.
    level = "INFO" if verbose else "WARNING"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", level.lower())
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Offline by rule: datasets must never try a hub, and its progress bars are noise here.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def _echo_lines(lines) -> None:
    for line in lines:
        click.echo(line)


runtime_options = [
    click.option("--workers", type=click.IntRange(min=1), default=None, help="Dask worker processes (default: one per core)."),
    click.option("--dask-address", default=None, help="Run on an existing Dask cluster, e.g. tcp://host:8786."),
]


def with_runtime_options(command):
    for option in reversed(runtime_options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show Prefect and Dask logs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars (for scripts).")
def cli(verbose: bool, quiet: bool) -> None:
    """Curate pretraining corpora: ingest, dedup, score, select, mix. Query everything with SQL."""
    _quiet_orchestration(verbose)
    if quiet:
        os.environ["CURATION_PROGRESS"] = "0"


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--corpus", "corpus_dir", required=True, help="Corpus directory or URL to create or update.")
@click.option("--text-field", default="text", show_default=True)
@click.option("--id-field", default="id", show_default=True)
@click.option("--source", default=None, help="Source name (default: each input's file or directory name).")
@click.option("--domain", default=None, help="A constant domain for these inputs.")
@click.option("--shard-size", type=click.IntRange(min=1), default=20_000, show_default=True, help="Documents per part.")
@click.option("--max-doc-bytes", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--max-reject-fraction", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Fail (exit 1) when more than this fraction of records is rejected.")
@with_runtime_options
def ingest(sources, corpus_dir, text_field, id_field, source, domain, shard_size, max_doc_bytes,
           max_reject_fraction, workers, dask_address) -> None:
    """Read JSONL(.gz/.zst), Parquet, CSV, dataset directories and .txt/.md files into a corpus."""
    from curation.ingest.stage import IngestOptions
    from curation.ingest.units import InputSpec, discover_units

    specs = [InputSpec(path, source, domain, text_field, id_field) for path in sources]
    options = IngestOptions(shard_size, max_doc_bytes, max_reject_fraction)
    discover_units(specs)  # wrong paths fail before the runtime starts

    from flows.ingest import run_ingest
    from flows.runtime import runtime

    with runtime(workers, dask_address) as address:
        _echo_lines(run_ingest(corpus_dir, specs, options, address).lines())


@cli.command()
@click.argument("corpus_dir")
@click.option("--exact", is_flag=True, help="Exact dedup of normalised text (attrs/exact_dedup).")
@click.option("--fuzzy", is_flag=True, help="MinHash-LSH near-duplicate dedup (attrs/minhash).")
@click.option("--semantic", is_flag=True, help="SemDeDup on the embeddings (attrs/semdedup); run `curate embed` first.")
@click.option("--scope", type=click.Choice(["global", "source"]), default="global", show_default=True)
@click.option("--normalize", type=click.Choice(["none", "whitespace", "lower"]), default="whitespace", show_default=True,
              help="Exact: how text is normalised before hashing.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=0.8, show_default=True,
              help="Fuzzy: Jaccard similarity from which two documents are near-duplicates.")
@click.option("--ngram", type=click.IntRange(min=1), default=5, show_default=True, help="Fuzzy: words per shingle.")
@click.option("--bands", type=click.IntRange(min=1), default=None, help="Fuzzy: LSH bands (default 14).")
@click.option("--rows", type=click.IntRange(min=1), default=None, help="Fuzzy: rows per band (default 8).")
@click.option("--num-perm", type=click.IntRange(min=1), default=None,
              help="Fuzzy: number of permutations; bands x rows are then chosen for --threshold.")
@click.option("--keep", default="first", show_default=True, help="Fuzzy: first, longest or best:<stage>.<column>.")
@click.option("--verify", type=click.Choice(["exact", "estimate"]), default="exact", show_default=True,
              help="Fuzzy: check candidates by true shingle Jaccard, or by the signatures' estimate.")
@click.option("--against", default=None, metavar="OLD",
              help="Fuzzy: also find duplicates of these documents in an earlier corpus OLD, from the MinHash "
                   "tables its own fuzzy dedup kept (models/minhash); OLD's documents come first.")
@click.option("--eps", type=click.FloatRange(0, 1, max_open=True), multiple=True,
              help="Semantic: remove a document whose cosine similarity to an earlier one exceeds 1 - eps "
                   "(default 0.05). Give several to see the fraction each keeps; the first decides.")
@click.option("--semantic-keep", type=click.Choice(["hard", "easy", "random"]), default="hard", show_default=True,
              help="Semantic: which of a group survives: hard = farthest from the centroid, easy = closest.")
@click.option("--clusters", "semantic_k", type=click.IntRange(min=2), default=None,
              help="Semantic: k-means clusters when `curate cluster` has not run (default docs / 50).")
@click.option("--seed", type=int, default=1, show_default=True)
@with_runtime_options
def dedup(corpus_dir, exact, fuzzy, semantic, scope, normalize, threshold, ngram, bands, rows, num_perm, keep, verify,
          against, eps, semantic_keep, semantic_k, seed, workers, dask_address) -> None:
    """Mark duplicate documents in attrs/<method> (documents are never rewritten)."""
    if not (exact or fuzzy or semantic):
        raise UserError("choose a method: --exact, --fuzzy and/or --semantic")
    from curation.corpus import Corpus
    from curation.embed.stage import embeddings_fingerprint
    from curation.exact_dedup import ExactDedupConfig
    from curation.fuzzy_dedup import fuzzy_config
    from curation.semdedup import SemDedupConfig

    corpus = Corpus.open(corpus_dir)
    if against and not fuzzy:
        raise UserError("--against goes with --fuzzy")
    exact_config = ExactDedupConfig(scope, normalize) if exact else None
    fuzzy_config_ = fuzzy_config(threshold=threshold, ngram=ngram, bands=bands, rows=rows, num_perm=num_perm,
                                 keep=keep, verify=verify, scope=scope, seed=seed, against=against) if fuzzy else None
    if fuzzy_config_:
        fuzzy_config_.check_against(corpus)  # before the runtime starts
    semantic_config = SemDedupConfig(eps or (0.05,), semantic_keep, semantic_k, seed) if semantic else None
    if semantic:
        embeddings_fingerprint(corpus)

    from flows.exact_dedup import run_exact_dedup
    from flows.fuzzy_dedup import run_fuzzy_dedup
    from flows.runtime import runtime
    from flows.semdedup import run_semdedup

    with runtime(workers, dask_address) as address:
        if exact_config:
            _echo_record("exact dedup", run_exact_dedup(corpus_dir, exact_config, address))
        if fuzzy_config_:
            _echo_record("fuzzy dedup", run_fuzzy_dedup(corpus_dir, fuzzy_config_, address))
        if semantic_config:
            record = run_semdedup(corpus_dir, semantic_config, address)
            _echo_record("semantic dedup", record)
            _echo_lines(f"  eps {value}: keeps {fraction:.1%}" for value, fraction in record.details["kept_fraction_by_eps"].items())


@cli.command()
@click.argument("corpus_dir")
@click.option("--encoder", default="hashing", show_default=True,
              help="hashing (numpy only), static (model2vec distilled from MiniLM), minilm, or a local model directory.")
@click.option("--max-chars", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Each text is cut to its first N characters before encoding.")
@click.option("--dtype", type=click.Choice(["float16", "float32"]), default="float16", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@with_runtime_options
def embed(corpus_dir, encoder, max_chars, dtype, batch_size, seed, workers, dask_address) -> None:
    """One L2-normalised vector per document in embeddings/ (resumable per part)."""
    from curation.corpus import Corpus
    from curation.embed.stage import EmbedConfig

    Corpus.open(corpus_dir)
    config = EmbedConfig(encoder, max_chars, dtype, batch_size, seed=seed)

    from flows.embed import run_embed
    from flows.runtime import runtime

    with runtime(workers, dask_address) as address:
        record = run_embed(corpus_dir, config, address)
    click.echo(f"embed: {record.rows_in:,} docs, {record.details['dim']}-d vectors with {encoder} ({record.wall_time_s:.1f} s)")


def _per_level(value: str | None, option: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise UserError(f"{option} takes whole numbers separated by commas, one per level, not {value!r}") from None


@cli.command()
@click.argument("corpus_dir")
@click.option("--k", "ks", default=None, help="Clusters per level, e.g. 1000,100,10 (default from the corpus size).")
@click.option("--resample-steps", default=None, help="Resampling steps per level, e.g. 3,3,3 (default 3 each).")
@click.option("--resample-sizes", default=None, help="Points kept per cluster when resampling, per level "
              "(default half the mean cluster size).")
@click.option("--iterations", type=click.IntRange(min=1), default=20, show_default=True, help="Lloyd iterations per k-means.")
@click.option("--sample", type=click.IntRange(min=1), default=None, help="Fit on this many vectors (default min(n, 256 x k1)).")
@click.option("--spherical", is_flag=True, help="Spherical k-means (centroids on the unit sphere).")
@click.option("--seed", type=int, default=0, show_default=True)
@with_runtime_options
def cluster(corpus_dir, ks, resample_steps, resample_sizes, iterations, sample, spherical, seed, workers, dask_address) -> None:
    """Hierarchical k-means with resampling over the embeddings (models/kmeans, attrs/clusters)."""
    from curation.cluster.stage import ClusterConfig
    from curation.corpus import Corpus
    from curation.embed.stage import embeddings_fingerprint

    embeddings_fingerprint(Corpus.open(corpus_dir))
    config = ClusterConfig(_per_level(ks, "--k"), _per_level(resample_steps, "--resample-steps"),
                           _per_level(resample_sizes, "--resample-sizes"), iterations, sample, spherical, seed)

    from flows.cluster import run_cluster
    from flows.runtime import runtime

    with runtime(workers, dask_address) as address:
        record = run_cluster(corpus_dir, config, address)
    click.echo(f"cluster: {record.rows_in:,} docs into {' > '.join(str(k) for k in record.details['ks'])} clusters "
               f"({record.wall_time_s:.1f} s)")


@cli.command()
@click.argument("corpus_dir")
@click.option("--scorer", "scorer_name", required=True, help="A scorer name (see `curate scorers`).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A scorer option, e.g. --set min_doc_words=20 (repeatable).")
@click.option("--as", "table", default=None, metavar="NAME",
              help="Write attrs/NAME/ (SQL view NAME) instead of attrs/<scorer>/, e.g. to keep two quality models.")
@with_runtime_options
def score(corpus_dir, scorer_name, settings, table, workers, dask_address) -> None:
    """Run a scorer over every document, writing attrs/<scorer>/ (resumable per part)."""
    from curation.corpus import Corpus
    from scorers.stage import ScoreConfig

    Corpus.open(corpus_dir)
    config = ScoreConfig(scorer_name, _options(settings), table)

    from flows.runtime import runtime
    from flows.score import run_score

    with runtime(workers, dask_address) as address:
        _echo_record(config.table, run_score(corpus_dir, config, address))


def _options(settings: tuple[str, ...]) -> dict:
    import yaml

    options = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise UserError(f"--set takes KEY=VALUE, not {setting!r}")
        options[key] = yaml.safe_load(value)
    return options


@cli.command("train-quality")
@click.argument("corpus_dir")
@click.option("--positive", required=True, help="High-quality texts: a JSONL/Parquet file, a SQL query returning text, "
              "or a condition on the corpus view (e.g. \"source = 'python-doc'\").")
@click.option("--negative", required=True, help="Other texts, given the same ways.")
@click.option("--name", required=True, help="The model goes to models/NAME/ in the corpus.")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="P(positive) at which held-out precision and recall are reported.")
@click.option("--seed", type=int, default=0, show_default=True)
def train_quality(corpus_dir, positive, negative, name, holdout, threshold, seed) -> None:
    """Train a fastText quality classifier with the DCLM recipe and print held-out metrics."""
    from curation.corpus import Corpus
    from scorers.fasttext_quality import train_quality as train

    corpus = Corpus.open(corpus_dir)
    with corpus.writer_lock("train-quality"):
        metrics = train(corpus_dir, positive, negative, name, holdout, threshold, seed)
    click.echo(f"held out {metrics['held_out']:,} of {metrics['held_out'] + metrics['train']:,}: ROC AUC {metrics['roc_auc']:.3f}, "
               f"precision {metrics['precision']:.3f} and recall {metrics['recall']:.3f} at {threshold}")
    click.echo(f"score with: curate score {corpus_dir} --scorer quality_fasttext "
               f"--set model={corpus.path('models', name, 'model.bin')}")


@cli.command("distill-dataman")
@click.argument("corpus_dir")
@click.option("--name", required=True, help="The distilled rater goes to models/NAME/ in the corpus.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="The rater, as for `curate score --scorer dataman`: --set base_url=... --set model=... "
              "or --set backend=hf --set model=DIR.")
@click.option("--sample", type=click.IntRange(min=1), default=5000, show_default=True, help="Documents to rate.")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def distill_dataman(corpus_dir, name, settings, sample, holdout, seed) -> None:
    """Rate a sample with a DataMan rater, train a fast linear rater on it, print held-out agreement."""
    from curation.corpus import Corpus
    from curation.select.store import check_name
    from scorers.dataman.training import distill_dataman as distill

    corpus = Corpus.open(corpus_dir)
    check_name(name, "a model name")
    with corpus.writer_lock("distill-dataman"):
        metrics = distill(corpus_dir, name, _options(settings), sample, holdout, seed)
    click.echo(f"rated {metrics['rated']:,} of {metrics['sampled']:,} sampled; trained on {metrics['train']:,}, "
               f"held out {metrics['held_out']:,}")
    for criterion, rho in metrics["spearman"].items():
        click.echo(f"  {criterion:<28} Spearman {'undefined (constant)' if rho is None else f'{rho:.3f}'}")
    click.echo(f"  {'domain':<28} accuracy {metrics['domain_accuracy']:.3f}")
    click.echo(f"score with: curate score {corpus_dir} --scorer dataman --set backend=distilled "
               f"--set model={corpus.path('models', name)}")


@cli.command("train-reference")
@click.argument("corpus_dir")
@click.option("--where", required=True, metavar="SQL", help="The curated documents the reference model learns from.")
@click.option("--name", required=True, help="The model goes to models/NAME/ in the corpus.")
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--sample", type=click.IntRange(min=10), default=20_000, show_default=True, help="Most documents to train on.")
@click.option("--seed", type=int, default=0, show_default=True)
def train_reference(corpus_dir, where, name, steps, sample, seed) -> None:
    """Train JEST's reference model (a tiny byte-level LM, needs torch) on a curated subset."""
    from curation.corpus import Corpus
    from curation.select.store import check_name
    from scorers.reference_loss import train_reference as train

    corpus = Corpus.open(corpus_dir)
    check_name(name, "a model name")
    with corpus.writer_lock("train-reference"):
        metrics = train(corpus_dir, where, name, steps, sample, seed)
    click.echo(f"reference model {name}: {metrics['documents']:,} documents, {steps} steps, "
               f"loss {metrics['mean_loss_on_training_documents']:.3f} nats/byte on them")
    click.echo(f"cache its losses: curate score {corpus_dir} --scorer reference_loss --set model={corpus.path('models', name)}")


@cli.command()
@click.argument("pipeline", type=click.Path())
@click.option("--cron", required=True, help='When to run, e.g. "0 3 * * *" (03:00 every day).')
@click.option("--name", required=True, help="The deployment's name.")
def deploy(pipeline, cron, name) -> None:
    """Register a scheduled run of a pipeline file on the Prefect server at PREFECT_API_URL."""
    _prefect_server_and(pipeline)
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError:
        raise UserError(f"--cron {cron!r} is not a cron expression (e.g. \"0 3 * * *\")") from None
    from flows.deploy import deploy as register

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
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            raise UserError("set PREFECT_API_URL to your Prefect server (e.g. http://127.0.0.1:4200/api after "
                            "`prefect server start`)")
    if pipeline is not None:
        from curation.config import load_config

        load_config(pipeline)


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
    from scorers.base import registry

    for name, scorer in sorted(registry().items()):
        click.echo(f"{name:<18} {(scorer.__doc__ or '').strip().splitlines()[0]}")


@cli.command()
@click.argument("name")
@click.argument("corpus_dir")
@click.option("--where", default="true", show_default=True, metavar="SQL",
              help="A condition on the corpus view, e.g. \"exact_dedup.keep AND quality_docs.score > 0.5\".")
@click.option("--top", default=None, metavar="EXPR", help="Policy: best-first by this SQL expression, up to the budget.")
@click.option("--temperature", type=float, default=None,
              help="Policy: sample without replacement with p ~ exp(BY / T), up to the budget (needs --by).")
@click.option("--by", default=None, metavar="EXPR", help="With --temperature: the SQL expression sampled by.")
@click.option("--random", "random_", is_flag=True, help="Policy: a uniform random sample, up to the budget.")
@click.option("--balanced", type=click.IntRange(min=1), default=None,
              help="Policy: N documents by hierarchical balanced sampling over the cluster tree.")
@click.option("--dataman", type=click.Choice(["multi_domain", "org_domain", "equi_domain", "uniform", "none"]),
              default=None, help="Policy: DataMan's selection strategy over attrs/dataman, up to the budget.")
@click.option("--budget", type=float, default=None, help="How much to select, in --unit.")
@click.option("--percent", type=float, default=None, help="Or: this percent of the --unit that passes --where.")
@click.option("--unit", type=click.Choice(["docs", "chars", "tokens"]), default=None,
              help="Of the budget (default docs; tokens with --dataman). Tokens: attrs/tokens, or characters / 4.")
@click.option("--multiplier", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --balanced: how many times one document may be picked.")
@click.option("--strategy", type=click.Choice(["random", "closest"]), default="random", show_default=True,
              help="With --balanced: inside a level-1 cluster, random members or those closest to its centroid.")
@click.option("--metric", default="overall_score", show_default=True,
              help="With --dataman: the criterion ranked by, or mix (the sum of all 14).")
@click.option("--target-scores", default="", help="With --dataman: keep only these metric values, e.g. 5 or 4,5.")
@click.option("--target-domains", default="", help="With --dataman: keep only these domains, e.g. Medicine,Law or A,C.")
@click.option("--seed", type=int, default=0, show_default=True)
def select(name, corpus_dir, where, top, temperature, by, random_, balanced, dataman, budget, percent, unit, multiplier,
           strategy, metric, target_scores, target_domains, seed) -> None:
    """Write selections/NAME (id, repeats, why) and the SQL view selection_NAME: the documents
    passing --where, then at most one policy (none: all of them)."""
    from curation.config import selection_config
    from curation.corpus import Corpus
    from flows.select import run_selection

    try:
        scores = [int(s) for s in target_scores.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--target-scores takes whole numbers separated by commas, not {target_scores!r}") from None
    options = {"where": where, "top": top, "temperature": temperature, "by": by, "random": random_, "balanced": balanced,
               "dataman": dataman, "budget": budget, "percent": percent, "unit": unit, "multiplier": multiplier,
               "strategy": strategy, "metric": metric, "target_scores": scores, "seed": seed,
               "target_domains": [d.strip() for d in target_domains.split(",") if d.strip()]}
    config = selection_config(options)
    with Corpus.open(corpus_dir).writer_lock("select"):
        _echo_lines(run_selection(corpus_dir, name, config))


@cli.command()
@click.argument("name")
@click.argument("corpus_dir")
@click.option("--selection", default=None, help="Mix this selection's documents (with its repeats); default: all documents.")
@click.option("--where", default="true", show_default=True, metavar="SQL", help="A condition on the corpus view.")
@click.option("--domain", default="domain", show_default=True, metavar="EXPR",
              help="The domain of a document: a SQL expression, e.g. dataman.domain_name or source.")
@click.option("--weights", default="natural", show_default=True,
              help="natural, temperature:T, domain=weight,... or @FILE (a JSON/YAML mapping, e.g. DoReMi's output).")
@click.option("--upsample", default=None, metavar="DOMAIN=FACTOR,...",
              help="Multiply these domains' weights for the last --upsample-fraction of training.")
@click.option("--upsample-fraction", type=float, default=0.1, show_default=True)
@click.option("--phases", "phases_file", type=click.Path(), default=None,
              help="A YAML/JSON list of {start, end, weights}: any schedule (instead of --weights/--upsample).")
@click.option("--tokens", type=float, default=None, help="The token budget (default: every available token once).")
@click.option("--warn-epochs", type=float, default=4.0, show_default=True, help="Warn when a domain repeats more.")
@click.option("--max-epochs", type=float, default=None, help="Refuse a budget that repeats a domain more.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def mix(name, corpus_dir, selection, where, domain, weights, upsample, upsample_fraction, phases_file, tokens,
        warn_epochs, max_epochs, fmt, seed) -> None:
    """Emit mixtures/NAME: data per domain, manifest.json with the schedule, trainer exports."""
    from curation.config import mixture_config
    from curation.corpus import Corpus
    from curation.mixture.emit import emit_mixture
    from curation.mixture.schedule import parse_weights

    phases = []
    if phases_file is not None:
        import yaml

        if not Path(phases_file).is_file():
            raise UserError(f"no phases file {phases_file}")
        phases = yaml.safe_load(Path(phases_file).read_text())  # YAML reads JSON too
    options = {"selection": selection, "where": where, "domain": domain, "weights": parse_weights(weights),
               "upsample": parse_weights(upsample) if upsample else {}, "upsample_fraction": upsample_fraction,
               "phases": phases, "tokens": tokens, "warn_epochs": warn_epochs, "max_epochs": max_epochs,
               "format": fmt, "seed": seed}
    spec = mixture_config(options).spec()
    corpus = Corpus.open(corpus_dir)
    with corpus.writer_lock("mix"):
        _echo_lines(emit_mixture(corpus_dir, name, spec))
    click.echo(f"read it: from curation.mixture import stream; stream({corpus.path('mixtures', name)!r})")


def _echo_record(label: str, record) -> None:
    dropped = record.rows_in - record.rows_out
    marked = f"{dropped:,} marked to drop, {record.rows_out:,} kept" if dropped else "none marked to drop"
    click.echo(f"{label}: {record.rows_in:,} docs, {marked} ({record.wall_time_s:.1f} s)")


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
@click.argument("pipeline", type=click.Path())
@with_runtime_options
def run(pipeline, workers, dask_address) -> None:
    """Run every stage of a pipeline file; finished stages with unchanged inputs are skipped."""
    from curation.config import load_config

    config = load_config(pipeline)
    _run_pipeline(config, workers or config.workers, dask_address or config.dask_address)


def _run_pipeline(config, workers, dask_address) -> None:
    from curation.ingest.stage import IngestSummary
    from curation.ingest.units import discover_units

    discover_units([item.spec() for item in config.inputs])  # wrong paths fail before the runtime starts
    from curation.corpus import MANIFEST, Corpus

    corpus = Corpus(config.corpus)
    if corpus.fs.exists(corpus.path(MANIFEST)):
        corpus.writer_lock("run").check_free()  # a second run fails before the runtime starts
    from curation.select.store import check_name
    from scorers.stage import ScoreConfig, check_table_name

    for stage in config.stages.scores:
        ScoreConfig(stage.scorer, stage.options, stage.name)  # so do unknown scorers and options
    for classifier in config.stages.quality_classifiers:
        check_table_name(classifier.name)
    for name, selection in config.selections.items():
        check_name(name)
        selection.policy()  # two policies in one selection fail here
    for name, mixture in config.mixtures.items():
        check_name(name, "a mixture name")
        mixture.spec()

    from flows.pipeline import run_pipeline
    from flows.runtime import runtime

    with runtime(workers, dask_address) as address:
        results = run_pipeline(config, address)
    for name, result in results.items():
        if isinstance(result, IngestSummary):
            _echo_lines(result.lines())
        elif isinstance(result, list):
            _echo_lines(result)
        elif isinstance(result, str):
            click.echo(f"{name}: {result}")
        else:
            _echo_record(name.replace("_", " "), result)


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
    ):
        click.echo(f"  {line.replace('curate', curate, 1)}")
    mixture = Path(corpus) / "mixtures" / "demo"
    click.echo(f"\nA trainer reads the mixture {mixture} (manifest.json has the schedule, Megatron blends and\n"
               "interleave_datasets probabilities) as a deterministic, resumable stream:")
    click.echo(f"  from curation.mixture import stream\n  for doc in stream({str(mixture)!r}, start_step=0):\n"
               "      doc['step'], doc['phase'], doc['domain'], doc['text']")


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


if __name__ == "__main__":
    sys.exit(main())
