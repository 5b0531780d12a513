"""Writing a mixture: ``mixtures/<name>/`` holds what a trainer needs and nothing else.

    data/<domain>/part-*.parquet   id, text, tokens; a selection's repeats as copies; shuffled by seed
                                   (part-*.jsonl with format=jsonl; token files a trainer opens
                                   with format=megatron or mds: curation.mixture.token_files)
    manifest.json                  domains (documents, tokens, parts, epochs), phases (start, end,
                                   token weights, draw probabilities, steps), budget, seed, tokenizer,
                                   exports (interleave_datasets probabilities, Megatron/NeMo blends
                                   or Streaming proportions),
                                   warnings, lineage (corpus, documents, selection, the full config as ``spec``)

Everything is written to a temporary folder and published whole; the same corpus, config
and seed give byte-identical files. Rows stream from DuckDB in parts: memory holds one part.
"""

from __future__ import annotations

import io
import time
import uuid

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation.catalog import Catalog
from curation.corpus import Corpus, write_bytes_atomic
from curation.duck import quote, sql_file
from curation.fingerprint import fingerprint
from curation.mixture.plan import MixtureConfig, MixturePlan, plan_mixture
from curation.mixture.token_files import TOKEN_FORMATS, write_token_files
from curation.select.store import check_name

MANIFEST = "manifest.json"
ROW_GROUP = 1024  # rows a reader holds at a time when it streams a part


def _part_bytes(batch: pa.RecordBatch, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jsonl":
        for row in batch.to_pylist():
            buffer.write(orjson.dumps(row) + b"\n")
    else:
        pq.write_table(pa.Table.from_batches([batch]), buffer, row_group_size=ROW_GROUP, compression="zstd")
    return buffer.getvalue()


def write_domain(catalog: Catalog, corpus: Corpus, plan: MixturePlan, domain: str, target: str) -> list[dict]:
    """The domain's rows as parts under ``target``; returns [{file, rows}] relative to the mixture."""
    config = plan.config
    query = sql_file("mixture_domain_rows.sql", documents=config.documents_sql(plan.tokens_sql), domain=quote(domain),
                     seed=str(int(config.seed)))
    folder = plan.domains[domain].folder
    parts = []
    for number, batch in enumerate(catalog.relation(query).fetch_record_batch(config.rows_per_part)):
        name = f"data/{folder}/part-{number:05d}.{config.format}"
        write_bytes_atomic(corpus.fs, f"{target}/{name}", _part_bytes(batch, config.format))
        parts.append({"file": name, "rows": batch.num_rows})
    return parts


def manifest(corpus: Corpus, name: str, plan: MixturePlan, parts: dict[str, list[dict]]) -> dict:
    config = plan.config
    first = 0
    phases = []
    for phase, probabilities, steps in zip(plan.phases, plan.probabilities, plan.steps, strict=True):
        phases.append({"start": phase.start, "end": phase.end, "first_step": first, "steps": steps,
                       "weights": phase.weights, "probabilities": probabilities})
        first += steps
    selection = None
    if config.selection is not None:
        selection = orjson.loads(corpus.fs.cat_file(corpus.path("selections", config.selection, "selection.json")))
    return {
        "name": name,
        "format": config.format,
        "seed": config.seed,
        "tokenizer": plan.counted_with,
        "budget_tokens": plan.budget,
        "steps": first,
        "domains": {d: {"path": f"data/{s.folder}", "documents": s.documents, "tokens": s.tokens,
                        "parts": parts[d], "tokens_drawn": plan.consumed[d], "epochs": plan.epochs[d]}
                    for d, s in plan.domains.items()},
        "phases": phases,
        "exports": exports(plan, phases),
        "warnings": plan.warnings,
        "lineage": {"corpus": corpus.url, "docs_fingerprint": corpus.docs_fingerprint(), "selection": selection,
                    "spec": config.model_dump(mode="json"), "spec_fingerprint": fingerprint(config.model_dump(mode="json"))},
    }


def exports(plan: MixturePlan, phases: list[dict]) -> dict:
    """What each trainer is given per phase, for the mixture's format."""
    domains = list(plan.domains)
    if plan.config.format == "megatron":
        # Megatron-LM / NeMo --data-path: weight and prefix pairs. Its BlendedDataset draws
        # samples of seq_length tokens in proportion to the weights, so token shares are the weights.
        return {"megatron_blend": [" ".join(f"{p['weights'][d]:.6g} data/{plan.domains[d].folder}/tokens"
                                            for d in domains if p["weights"].get(d, 0.0) > 0) for p in phases]}
    if plan.config.format == "mds":
        # streaming.Stream(local=data/<domain>, proportion=...): proportions are of samples, and a
        # sample is a document, so they are the phase's draw probabilities.
        return {"mds_streams": [[{"local": f"data/{plan.domains[d].folder}", "proportion": p["probabilities"][d]}
                                 for d in domains if p["probabilities"].get(d, 0.0) > 0] for p in phases]}
    # datasets.interleave_datasets(probabilities=...) over the domains in this order.
    return {"interleave_datasets": [{"domains": domains, "probabilities": [p["probabilities"].get(d, 0.0) for d in domains]}
                                    for p in phases]}


def write_mixture(corpus: Corpus, name: str, plan: MixturePlan, folder: str) -> dict:
    """The mixture's data files and manifest.json into ``folder``; returns the manifest."""
    if plan.config.format in TOKEN_FORMATS:
        parts = write_token_files(corpus, plan, folder)
    else:
        with Catalog(corpus) as catalog:
            parts = {domain: write_domain(catalog, corpus, plan, domain, folder) for domain in plan.domains}
    document = manifest(corpus, name, plan, parts)
    write_bytes_atomic(corpus.fs, f"{folder}/{MANIFEST}", orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return document


def emit_mixture(corpus_url: str, name: str, config: MixtureConfig) -> list[str]:
    """Writes mixtures/<name>; returns the summary lines. The caller holds the writer lock."""
    started = time.time()
    corpus = Corpus.open(corpus_url)
    check_name(name, "a mixture name")
    plan = plan_mixture(corpus, config)
    staging = corpus.path("mixtures", f".{name}-{uuid.uuid4().hex}")
    document = write_mixture(corpus, name, plan, staging)
    corpus.publish(staging, f"mixtures/{name}")
    lines = [f"mixture {name}: {len(plan.domains)} domains, {sum(s.documents for s in plan.domains.values()):,} documents, "
             f"a budget of {plan.budget:,.0f} tokens ({plan.counted_with}) in {document['steps']:,} draws over "
             f"{len(plan.phases)} phase{'s' if len(plan.phases) > 1 else ''} ({time.time() - started:.1f} s)"]
    for phase in document["phases"]:
        weights = ", ".join(f"{d} {w:.3f}" for d, w in phase["weights"].items())
        lines.append(f"  {phase['start']:.2f}-{phase['end']:.2f} of training: {weights}")
    lines.append("  epochs: " + ", ".join(f"{d} {e:.2f}" for d, e in plan.epochs.items()))
    lines += [f"warning: {w}" for w in plan.warnings]
    return lines + reading_lines(document, corpus.path("mixtures", name))


def reading_lines(document: dict, folder: str) -> list[str]:
    """How a trainer opens the mixture, with the folder's paths."""
    exports = document["exports"]
    if "megatron_blend" in exports:
        return [f"  Megatron-LM --data-path, {p['start']:.2f}-{p['end']:.2f} of training: "
                + " ".join(w if n % 2 == 0 else f"{folder}/{w}" for n, w in enumerate(blend.split()))
                for p, blend in zip(document["phases"], exports["megatron_blend"], strict=True)]
    if "mds_streams" in exports:
        return [f"  streaming.Stream(local=..., proportion=...), {p['start']:.2f}-{p['end']:.2f} of training: "
                + ", ".join(f"{folder}/{s['local']} {s['proportion']:.6g}" for s in streams)
                for p, streams in zip(document["phases"], exports["mds_streams"], strict=True)]
    return [f"read it: from curation.mixture import stream; stream({folder!r})"]
