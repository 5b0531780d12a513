"""Cluster benchmark: `curate clusters` on 1,000,000 x 384 vectors (a Gaussian mixture with
power-law component sizes), 3 levels, 2 workers: wall time and peak RSS of the whole command;
beside it, the same fit in this process with the time spent inside FAISS (the Lloyd iterations
and nearest-centroid searches), and scikit-learn's MiniBatchKMeans for the level-1 k.

    python benchmarks/cluster.py [--docs 1000000] [--dim 384]

The corpus (one short document per vector) and its embeddings are built once under --work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
from common import HERE, measure

from curation import Corpus
from curation.clusters.stage import POINTS_PER_CENTROID, default_ks
from curation.corpus import write_parquet_atomic
from curation.embed.stage import STAGE, EmbedConfig, finish_embeddings
from curation.stage import plan, record

PART = 20_000


def build(work: Path, docs: int, dim: int) -> Path:
    corpus_dir = work / f"cluster-{docs}x{dim}"
    if (corpus_dir / "corpus.json").exists() and Corpus.open(str(corpus_dir)).stage(STAGE.name):
        return corpus_dir
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run

    work.mkdir(parents=True, exist_ok=True)
    with open(work / f"ids-{docs}.jsonl", "w") as handle:
        handle.writelines(f'{{"id": "v{i}", "text": "vector {i}"}}\n' for i in range(docs))
    run(str(corpus_dir), IngestConfig(inputs=[InputSpec(str(work / f"ids-{docs}.jsonl"))], shard_size=PART))
    corpus = Corpus.open(str(corpus_dir))
    stage_plan = plan(corpus, STAGE, EmbedConfig(dtype="float32"))
    rng = np.random.default_rng(0)
    components = 2000
    weights = 1 / np.arange(1, components + 1) ** 1.1
    means = rng.standard_normal((components, dim)).astype(np.float32)
    for part, rows in zip(stage_plan.parts, stage_plan.part_rows, strict=True):
        ids = corpus.read_part("docs", part, ["id"])["id"]
        which = rng.choice(components, rows, p=weights / weights.sum())
        vectors = means[which] + 0.4 * rng.standard_normal((rows, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        table = pa.table({"id": ids, "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)})
        write_parquet_atomic(corpus.fs, stage_plan.staged_part(part), table)
    record(stage_plan, finish_embeddings(stage_plan))
    return corpus_dir


def faiss_share(corpus_dir: Path, docs: int) -> tuple[float, float]:
    """(seconds of the whole fit and assignment in this process, seconds inside FAISS)."""
    from curation.clusters.hierarchical import HierarchicalKMeans
    from curation.embed.stage import read_vectors

    corpus = Corpus.open(str(corpus_dir))
    inside = [0.0]

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.time()
            try:
                return function(*args, **kwargs)
            finally:
                inside[0] += time.time() - started
        return wrapper

    faiss.Kmeans.train = timed(faiss.Kmeans.train)
    faiss.IndexFlatL2.search = timed(faiss.IndexFlatL2.search)
    ks = default_ks(docs)
    size = min(docs, POINTS_PER_CENTROID * ks[0])
    parts = corpus.parts("embeddings")
    started = time.time()
    sample = np.concatenate([read_vectors(corpus, p)[1] for p in parts])[np.random.default_rng(0).choice(docs, size, replace=False)]
    model = HierarchicalKMeans(ks).fit(sample)
    for part in parts:
        model.predict(read_vectors(corpus, part)[1])
    return time.time() - started, inside[0]


def minibatch(corpus_dir: Path, docs: int) -> float:
    from sklearn.cluster import MiniBatchKMeans

    from curation.embed.stage import read_vectors

    corpus = Corpus.open(str(corpus_dir))
    x = np.concatenate([read_vectors(corpus, p)[1] for p in corpus.parts("embeddings")])
    started = time.time()
    MiniBatchKMeans(default_ks(docs)[0], batch_size=4096, n_init=1, max_iter=20, random_state=0).fit(x)
    return time.time() - started


def vectors_corpus(description: str) -> tuple[argparse.Namespace, Path]:
    """The command line shared with benchmarks/semdedup.py, and the corpus of vectors it names."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    return args, build(args.work, args.docs, args.dim)


def main() -> None:
    args, corpus_dir = vectors_corpus(__doc__)
    Corpus.open(str(corpus_dir)).forget_stages(["clusters"])
    seconds, peak, output = measure([sys.executable, "-m", "curation.cli", "-q", "clusters", str(corpus_dir), "--workers", "2"])
    record = Corpus.open(str(corpus_dir)).stage("clusters")
    vectors_mb = args.docs * args.dim * 4 / 1e6
    print(output.strip())
    print(f"\n{args.docs:,} x {args.dim} float32 vectors ({vectors_mb:,.0f} MB), levels {record.details['ks']}, 2 cores\n")
    print("| what | seconds | peak RSS (MB) |")
    print("|---|---:|---:|")
    print(f"| `curate clusters --workers 2` (whole command) | {seconds:.1f} | {peak / 1e6:,.0f} ({peak / 1e6 / vectors_mb:.2f}x the vectors) |")
    print(f"| the cluster stage alone | {record.wall_time_s:.1f} | |", flush=True)
    total, inside = faiss_share(corpus_dir, args.docs)
    print(f"| the same fit and assignment in one process | {total:.1f} | |")
    print(f"| of which inside FAISS (Lloyd iterations, searches) | {inside:.1f} ({inside / total:.0%}) | |", flush=True)
    print(f"| scikit-learn MiniBatchKMeans, level-1 k only, 20 epochs | {minibatch(corpus_dir, args.docs):.1f} | |")


if __name__ == "__main__":
    main()
