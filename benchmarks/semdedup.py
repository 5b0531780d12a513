"""SemDeDup benchmark: `curate dedup --semantic` on the vectors of benchmarks/cluster.py
(1,000,000 x 384 by default), with and without the cluster stage's level-1 clusters: wall time,
docs/s, peak RSS and the fraction kept at several eps.

    python benchmarks/semdedup.py [--docs 1000000]   # after or without benchmarks/cluster.py
"""

from __future__ import annotations

import sys

from cluster import vectors_corpus
from common import measure

from curation import Corpus


def main() -> None:
    args, corpus_dir = vectors_corpus(__doc__)
    corpus = Corpus.open(str(corpus_dir))
    print(f"\n{args.docs:,} x {args.dim} vectors, 2 cores\n")
    print("| clusters from | seconds | docs/s | peak RSS (MB) | kept at eps 0.01 / 0.05 / 0.1 |")
    print("|---|---:|---:|---:|---|")
    for label, command in (("the cluster stage's level 1", []), ("its own spherical k-means", ["--clusters", str(max(2, args.docs // 1000))])):
        if command and corpus.stage("clusters"):
            corpus.forget_stages(["clusters"])
        if not command and not corpus.stage("clusters"):
            measure([sys.executable, "-m", "curation.cli", "-q", "clusters", str(corpus_dir), "--workers", "2"])
        corpus.forget_stages(["semdedup"])
        seconds, peak, _ = measure([sys.executable, "-m", "curation.cli", "-q", "dedup", str(corpus_dir), "--semantic",
                                    "--eps", "0.01", "--eps", "0.05", "--eps", "0.1", *command])
        record = Corpus.open(str(corpus_dir)).stage("semdedup")
        kept = " / ".join(f"{v:.3f}" for v in record.details["kept_fraction_by_eps"].values())
        print(f"| {label} ({record.details['clusters_from']}) | {record.wall_time_s:.1f} (command {seconds:.1f}) "
              f"| {args.docs / record.wall_time_s:,.0f} | {peak / 1e6:,.0f} | {kept} |", flush=True)


if __name__ == "__main__":
    main()
