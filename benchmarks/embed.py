"""Embed benchmark: docs/s of each encoder on 2 cores through `curate embed --workers 2`, beside
bare SentenceTransformer.encode on the same texts in one process (the ceiling for minilm), and
each encoder's agreement with MiniLM: the share of a document's 10 nearest neighbours that
MiniLM's embeddings also put among its 10 nearest.

    python benchmarks/embed.py [--docs 2000]
    python benchmarks/embed.py --sizes 20000 100000 300000 [--encoders static]

Texts: ~1,500-character pages of the demo's real Debian text (scripts/fetch-demo-data). With
--sizes, the rate per core as the corpus grows: the first N documents of the end-to-end
benchmark's text (benchmarks/common.py, documents of a few KB, cut to 2,000 characters), through
`curate embed --workers 2` and through a bare loop of model2vec's `encode` in one process (batches
of 1,024, the tokenizer's threads on both cores, model2vec's process pool off).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import orjson
from common import HERE, make_data, measure

from curation import Corpus
from curation.embed.encoders import minilm_path
from curation.embed.stage import read_vectors

ENCODERS = ("hashing", "static", "minilm")


def make_corpus(work: Path, docs: int) -> Path:
    from curation.demo.build import DEFAULT_DATA_DIR
    from curation.demo.sources import foldoc, fortunes, linux_docs, metamath, python_docs, sqlite_site
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run

    corpus_dir = work / f"embed-{docs}"
    if (corpus_dir / "corpus.json").exists():
        return corpus_dir
    root = DEFAULT_DATA_DIR / "root"
    streams = [linux_docs(root), python_docs(root), sqlite_site(root), metamath(root), foldoc(root), fortunes(root)]
    texts: list[str] = []
    while len(texts) < docs and streams:  # round robin over the sources until enough or all run out
        for stream in list(streams):
            item = next(stream, None)
            if item is None:
                streams.remove(stream)
            else:
                texts.append(item[1][:1500])
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"embed-{docs}.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"id": f"t{i}", "text": t}) + b"\n" for i, t in enumerate(texts[:docs])))
    run(str(corpus_dir), IngestConfig(inputs=[InputSpec(str(source))], shard_size=max(docs // 8, 1)))
    return corpus_dir


def vectors(corpus_dir: Path) -> np.ndarray:
    corpus = Corpus.open(str(corpus_dir))
    return np.concatenate([read_vectors(corpus, part)[1] for part in corpus.parts("embeddings")])


def neighbours(x: np.ndarray, k: int = 10) -> np.ndarray:
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1)[:, :k]


def bare_minilm(corpus_dir: Path) -> float:
    from sentence_transformers import SentenceTransformer

    texts = [t[:2000] for t in Corpus.open(str(corpus_dir)).sql("SELECT text FROM docs")["text"].to_pylist()]
    model = SentenceTransformer(minilm_path(), device="cpu")
    started = time.time()
    model.encode(texts, batch_size=64)
    return len(texts) / (time.time() - started)


def first_documents(work: Path, docs: int) -> Path:
    """A corpus of the first ``docs`` documents of make_data(work, 1024), ingested once."""
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run

    corpus_dir = work / f"embed-first-{docs}"
    if (corpus_dir / "corpus.json").exists():
        return corpus_dir
    source = work / f"embed-first-{docs}.jsonl"
    with open(source, "wb") as out:
        for line in itertools.islice(itertools.chain.from_iterable(
                open(path, "rb") for path in sorted(make_data(work, 1024).glob("*.jsonl"))), docs):
            out.write(line)
    # At least 8 parts, so that both workers have work; at most the end-to-end benchmark's 20,000.
    run(str(corpus_dir), IngestConfig(inputs=[InputSpec(str(source))], shard_size=min(max(docs // 8, 1), 20_000)))
    return corpus_dir


def bare_static(corpus_dir: Path, max_chars: int = 2000) -> float:
    """docs/s of model2vec's own encode over the corpus's texts, in this process."""
    from model2vec import StaticModel

    from curation.embed.encoders import static_model_path

    texts = [t[:max_chars] for t in Corpus.open(str(corpus_dir)).sql("SELECT text FROM docs")["text"].to_pylist()]
    model = StaticModel.from_pretrained(str(static_model_path()))
    started = time.time()
    for start in range(0, len(texts), 1024):
        model.encode(texts[start : start + 1024], use_multiprocessing=False)
    return len(texts) / (time.time() - started)


def scaling(work: Path, sizes: list[int], encoder: str) -> None:
    print("| documents | command s | stage s | stage docs/s | docs/s per core (tasks) | first / last half of tasks "
          "| bare model2vec encode, one process, docs/s | stage / bare |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for docs in sizes:
        corpus_dir = first_documents(work, docs)
        Corpus.open(str(corpus_dir)).forget_stages(["embed"])
        seconds, _, _ = measure([sys.executable, "-m", "curation.cli", "-q", "embed", str(corpus_dir), "--encoder", encoder,
                                 "--max-chars", "2000", "--workers", "2"])
        record = Corpus.open(str(corpus_dir)).stage("embed")
        (step,) = record.part_steps
        bare = bare_static(corpus_dir)
        rows = record.rows_in
        print(f"| {rows:,} | {seconds:.1f} | {record.wall_time_s:.1f} | {rows / record.wall_time_s:,.0f} | "
              f"{record.docs_per_core_s:,.0f} | {step['first_half']:,.0f} / {step['last_half']:,.0f} | {bare:,.0f} | "
              f"{rows / record.wall_time_s / bare:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--encoders", nargs="*", default=list(ENCODERS))
    parser.add_argument("--sizes", type=int, nargs="*", help="documents: the static encoder's rate as the corpus grows")
    args = parser.parse_args()
    if args.sizes:
        scaling(args.work, args.sizes, "static")
        return
    corpus_dir = make_corpus(args.work, args.docs)
    rows, embedded = [], {}
    for name in args.encoders:
        Corpus.open(str(corpus_dir)).forget_stages(["embed"])
        seconds, peak, _ = measure([sys.executable, "-m", "curation.cli", "-q", "embed", str(corpus_dir), "--encoder", name, "--workers", "2"])
        record = Corpus.open(str(corpus_dir)).stage("embed")
        (step,) = record.part_steps
        embedded[name] = vectors(corpus_dir).astype(np.float32)
        rows.append((name, seconds, record.wall_time_s, peak, step))
    reference = neighbours(embedded["minilm"]) if "minilm" in embedded else None
    print(f"\n{args.docs:,} documents of ~1,500 characters, 2 workers\n")
    print("| encoder | command s | stage s | stage docs/s | docs/s per core, first / last half of the tasks | peak RSS (MB) "
          "| top-10 neighbours shared with MiniLM |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, seconds, stage, peak, step in rows:
        agreement = "" if reference is None else f"{np.mean([len(np.intersect1d(a, b)) for a, b in zip(neighbours(embedded[name]), reference, strict=True)]) / 10:.2f}"
        print(f"| {name} | {seconds:.1f} | {stage:.1f} | {args.docs / stage:,.0f} | "
              f"{step['first_half']:,.1f} / {step['last_half']:,.1f} | {peak / 1e6:,.0f} | {agreement} |")
    if "minilm" in embedded:
        print(f"| bare SentenceTransformer.encode, one process, batch 64 | | | {bare_minilm(corpus_dir):,.1f} | | | |")


if __name__ == "__main__":
    main()
