"""Distilled DataMan rater benchmark: rate a sample through the real HTTP client (against a local
chat-completions server whose rule stands in for a DataMan model), distill, then score the whole
corpus with `curate score --scorer dataman --set backend=distilled` on 2 workers.

    python benchmarks/dataman_distilled.py [--size-mb 100] [--sample 2000]

What it shows is the speed of the distilled path (a rater model answers a few documents a second
per GPU; the distilled one scores the corpus at CPU speed); the agreement printed is with the
stand-in rule, not with a real DataMan model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import HERE, ingested, measure

from curation import Corpus
from scorers.dataman.local_server import feature_rater, serve_chat
from scorers.dataman.training import distill_dataman


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    corpus_dir = ingested(args.work, args.size_mb, "dataman")
    started = time.time()
    with serve_chat(feature_rater) as url:
        metrics = distill_dataman(str(corpus_dir), "dataman_bench", {"base_url": url, "model": "feature-rater",
                                  "concurrency": 16, "cache_dir": str(args.work / "dataman-cache")}, sample=args.sample)
    distill_seconds = time.time() - started
    corpus = Corpus.open(str(corpus_dir))
    docs = corpus.rows("docs")
    corpus.forget_stages(["dataman"])
    seconds, peak, _ = measure([sys.executable, "-m", "curation.cli", "-q", "score", str(corpus_dir), "--scorer", "dataman",
                                "--set", "backend=distilled", "--set", f"model={corpus.path('models', 'dataman_bench')}",
                                "--workers", "2"])
    stage = Corpus.open(str(corpus_dir)).stage("dataman").wall_time_s
    rhos = [rho for rho in metrics["spearman"].values() if rho is not None]
    print(f"\n{docs:,} documents, {args.size_mb} MB; {args.sample:,} rated by the stand-in server\n")
    print("| what | seconds | docs/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|")
    print(f"| rate the sample over HTTP and distill | {distill_seconds:.1f} | {args.sample / distill_seconds:,.0f} | |")
    print(f"| `curate score --scorer dataman --set backend=distilled --workers 2` | {seconds:.1f} | {docs / seconds:,.0f} | {peak / 1e6:,.0f} |")
    print(f"| the scoring stage alone | {stage:.1f} | {docs / stage:,.0f} | |")
    print(f"\nheld-out agreement with the stand-in: Spearman {min(rhos):.3f}-{max(rhos):.3f} over the criteria, "
          f"domain accuracy {metrics['domain_accuracy']:.3f} ({metrics['held_out']} documents)")


if __name__ == "__main__":
    main()
