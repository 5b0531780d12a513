"""`curate select` and `curate mix`: selections and training mixtures."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli.common import cli, echo_lines
from curation.errors import UserError


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
        echo_lines(run_selection(corpus_dir, name, config))

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
        echo_lines(emit_mixture(corpus_dir, name, spec))
    click.echo(f"read it: from curation.mixture import stream; stream({corpus.path('mixtures', name)!r})")
