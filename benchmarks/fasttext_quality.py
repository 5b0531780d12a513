"""fastText quality scoring benchmark: `curate score --scorer quality_fasttext` on 2 workers, and
the scorer in one process, beside a bare loop of `model.predict` over the same texts (newlines
as spaces, as the scorer and DCLM do).

    python benchmarks/fasttext_quality.py [--size-mb 100]

The model is trained here with `curate train-quality` (the DCLM recipe) on the benchmark corpus
itself: documents that mention "driver" against the rest — a throughput test, not a quality one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import HERE, ingested, measure

from curation import Corpus
from scorers.fasttext_quality import QualityScorer, fasttext_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    corpus_dir = ingested(args.work, args.size_mb, "fasttext")
    model = corpus_dir / "models" / "bench" / "model.bin"
    if not model.exists():
        measure([sys.executable, "-m", "curation.cli", "train-quality", str(corpus_dir), "--positive", "text LIKE '%driver%'",
                 "--negative", "text NOT LIKE '%driver%'", "--name", "bench"])
    corpus = Corpus.open(str(corpus_dir))
    texts = corpus.sql("SELECT text FROM docs")["text"].to_pylist()
    corpus.forget_stages(["quality_fasttext"])
    seconds, peak, _ = measure([sys.executable, "-m", "curation.cli", "-q", "score", str(corpus_dir), "--scorer", "quality_fasttext",
                                "--set", f"model={model}", "--workers", "2"])
    stage = Corpus.open(str(corpus_dir)).stage("quality_fasttext").wall_time_s

    import fasttext
    import pyarrow as pa

    bare_model = fasttext.load_model(str(model))
    started = time.time()
    for text in texts:
        bare_model.predict(fasttext_line(text))
    bare = len(texts) / (time.time() - started)
    scorer = QualityScorer(str(model))
    batches = [pa.record_batch({"text": pa.array(texts[i : i + 1024])}) for i in range(0, len(texts), 1024)]
    started = time.time()
    for batch in batches:
        scorer.score(batch)
    one_process = len(texts) / (time.time() - started)
    print(f"\n{len(texts):,} documents, {args.size_mb} MB, DCLM-recipe bigram model\n")
    print("| what | docs/s | peak RSS (MB) |")
    print("|---|---:|---:|")
    print(f"| `curate score --scorer quality_fasttext --workers 2` (whole command, {seconds:.1f} s) | {len(texts) / seconds:,.0f} | {peak / 1e6:,.0f} |")
    print(f"| the scoring stage alone ({stage:.1f} s) | {len(texts) / stage:,.0f} | |")
    print(f"| the scorer in one process | {one_process:,.0f} | |")
    print(f"| bare loop of `model.predict`, one process | {bare:,.0f} | |")


if __name__ == "__main__":
    main()
