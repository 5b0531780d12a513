"""Scale-out benchmark: fuzzy dedup, exact dedup and SemDeDup at growing corpus sizes on 2
workers, with the memory and CPU of the `curate` process (the driver) apart from its workers'.

    python benchmarks/scale_out.py [--docs 250000 1000000 2000000] [--stages fuzzy exact semantic]
    python benchmarks/scale_out.py --docs 1000000 --stages fuzzy --partition-rows 1000000 500000
    python benchmarks/scale_out.py --dask-address tcp://127.0.0.1:8786    # workers started by hand

Text: PAGE-character pages of the demo's real text, then pages spliced from its paragraphs;
every 10th page starts a chain of one to three near-duplicates, each a variant of the one
before (near_duplicates.web_variant: word edits at 1-15%, boilerplate of 15-35% of the page
around it, paragraphs reordered with 1-3% edits). Vectors for SemDeDup:
the Gaussian mixture of benchmarks/cluster.py, with the stage's own k-means (docs / 1000).

For each run: the stage's wall time and docs/s (corpus.json), the whole command's time, the
peak RSS of the `curate` process alone and of the largest other process (a worker), and the
share of the command's CPU seconds spent in the `curate` process. A first run on 1,000
documents gives the `curate` process's size when it holds next to nothing (idle).
"""

from __future__ import annotations

import argparse
import itertools
import random
import subprocess
import sys
from pathlib import Path

import orjson
from cluster import build as vectors_corpus
from common import HERE, measure_processes
from dedup import page_stream
from near_duplicates import web_variant

from curation import Corpus

FILES = 8
STAGES = {"fuzzy": ("minhash", ["--fuzzy"]), "exact": ("exact_dedup", ["--exact"]), "semantic": ("semdedup", ["--semantic"])}
PARTITION_FLAG = {"fuzzy": "--fuzzy-partition-rows", "exact": "--exact-partition-rows", "semantic": "--semantic-partition-rows"}


def text_corpus(work: Path, docs: int) -> Path:
    """The corpus of ``docs`` planted documents, written as JSONL and ingested once."""
    corpus_dir = work / f"scale-{docs}"
    if (corpus_dir / "corpus.json").exists():
        return corpus_dir
    jsonl = work / f"scale-{docs}-jsonl"
    jsonl.mkdir(parents=True, exist_ok=True)
    rng, written = random.Random(docs), 0
    handles = [open(jsonl / f"part-{f}.jsonl", "wb") for f in range(FILES)]
    for i, page in enumerate(page_stream()):
        chain = [page]
        if i % 10 == 0:
            for _ in range(rng.randint(1, 3)):
                chain.append(web_variant(chain[-1], rng)[1])
        for text in chain[: docs - written]:
            handles[written % FILES].write(orjson.dumps({"id": f"s{written}", "text": text}) + b"\n")
            written += 1
        if written >= docs:
            break
    for handle in handles:
        handle.close()
    subprocess.run([sys.executable, "-m", "curation.cli", "-q", "ingest", str(jsonl), "--corpus", str(corpus_dir)], check=True,
                   stdout=subprocess.DEVNULL)
    return corpus_dir


def external_workers(address: str) -> list[int]:
    from distributed import Client

    with Client(address) as client:
        return list(client.run(lambda: __import__("os").getpid()).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[250_000, 1_000_000, 2_000_000])
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--partition-rows", type=int, nargs="*", default=[], help="also run each at these partition sizes")
    parser.add_argument("--dask-address", default=None)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    runtime = ["--dask-address", args.dask_address] if args.dask_address else ["--workers", "2"]
    others = external_workers(args.dask_address) if args.dask_address else []

    print(f"\n2 workers ({'external: ' + args.dask_address if args.dask_address else 'local'})\n")
    print("| stage | documents | partition rows | stage s | docs/s | command s | `curate` peak MB | largest worker MB "
          "| `curate` CPU share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for stage, docs in itertools.product(args.stages, [1_000, *args.docs]):
        name, flags = STAGES[stage]
        corpus_dir = vectors_corpus(args.work, docs, 384) if stage == "semantic" else text_corpus(args.work, docs)
        own = ["--clusters", str(max(2, docs // 1000))] if stage == "semantic" else []
        for rows in [None, *args.partition_rows]:
            Corpus.open(str(corpus_dir)).forget_stages([name])
            sizing = [PARTITION_FLAG[stage], str(rows)] if rows else []
            usage = measure_processes([sys.executable, "-m", "curation.cli", "-q", "dedup", str(corpus_dir), *flags, *own, *sizing,
                             *runtime], others)
            wall = Corpus.open(str(corpus_dir)).stage(name).wall_time_s
            print(f"| {stage} | {docs:,} | {rows or 'default'} | {wall:.1f} | {docs / wall:,.0f} | {usage.seconds:.1f} "
                  f"| {usage.driver_peak / 1e6:,.0f} | {usage.worker_peak / 1e6:,.0f} "
                  f"| {usage.driver_cpu / max(usage.total_cpu, 1e-9):.1%} |", flush=True)


if __name__ == "__main__":
    main()
