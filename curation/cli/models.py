"""`curate train-quality`, `distill-dataman`, `train-reference`: the models scorers load."""

from __future__ import annotations

import click

from curation.cli.common import cli
from curation.cli.stages import key_values


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
@click.option("--quantize/--no-quantize", default=True, show_default=True,
              help="Quantise the model when that costs under 0.005 of held-out ROC AUC (a few MB instead of ~1 GB).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A fastText setting instead of DCLM's, e.g. --set bucket=200000 --set dim=64.")
def train_quality(corpus_dir, positive, negative, name, holdout, threshold, seed, quantize, settings) -> None:
    """Train a fastText quality classifier with the DCLM recipe and print held-out metrics."""
    from curation.corpus import Corpus
    from scorers.fasttext_quality import train_quality as train

    corpus = Corpus.open(corpus_dir)
    with corpus.writer_lock("train-quality"):
        metrics = train(corpus_dir, positive, negative, name, holdout, threshold, seed, quantize, **key_values(settings))
    click.echo(f"held out {metrics['held_out']:,} of {metrics['held_out'] + metrics['train']:,}: ROC AUC {metrics['roc_auc']:.3f}, "
               f"precision {metrics['precision']:.3f} and recall {metrics['recall']:.3f} at {threshold}")
    quantized = metrics["quantized"]
    if quantized:
        kept = "kept" if quantized["kept"] else "not kept (it cost too much AUC)"
        click.echo(f"quantised: ROC AUC {quantized['roc_auc']:.4f} against {quantized['roc_auc_unquantized']:.4f}, "
                   f"{metrics['bytes'] / 1e6:,.1f} MB against {quantized['bytes_unquantized'] / 1e6:,.0f} MB; {kept}")
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
        metrics = distill(corpus_dir, name, key_values(settings), sample, holdout, seed)
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
