"""Selection and mixture benchmark on a corpus of many small documents (synthetic: the point is
the number of rows, not the text): `curate select` by SQL (the condition and the ranking run in
DuckDB) and `curate mix` with an upsampling phase, wall time and peak RSS of each.

    python benchmarks/mix.py [--docs 10000000]

Domains follow a Zipf law over 8 names; each text is a few words.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import orjson
from common import HERE, measure

WORDS = ("data", "model", "token", "corpus", "train", "select", "mix", "score", "filter", "dedup", "cluster", "query")


def make_inputs(folder: Path, docs: int) -> Path:
    done = folder / ".done"
    if done.exists() and done.read_text() == str(docs):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    domains = rng.zipf(1.5, docs) % 8
    lengths = rng.integers(3, 40, docs)
    words = rng.integers(0, len(WORDS), int(lengths.sum()))
    start = 0
    with open(folder / "docs.jsonl", "wb") as handle:
        for i in range(docs):
            text = " ".join(WORDS[w] for w in words[start : start + lengths[i]])
            start += lengths[i]
            handle.write(orjson.dumps({"id": f"d{i}", "text": f"{i} {text}", "domain": f"domain{domains[i]}"}) + b"\n")
    done.write_text(str(docs))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000_000)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    inputs = make_inputs(args.work / f"mix-inputs-{args.docs}", args.docs)
    corpus = args.work / f"mix-{args.docs}"
    curate = [sys.executable, "-m", "curation.cli", "-q"]
    rows = []
    if not (corpus / "corpus.json").exists():
        seconds, peak, _ = measure([*curate, "ingest", str(inputs), "--corpus", str(corpus), "--workers", "2"])
        rows.append(("`curate ingest` (setting up)", seconds, peak))
    for label, command in (
        ("`curate select --where ... --top length(text) --percent 10 --unit tokens`",
         ["select", "long", str(corpus), "--where", "domain <> 'domain7'", "--top", "length(text)", "--percent", "10",
          "--unit", "tokens"]),
        ("`curate mix --selection long --upsample domain3=3`",
         ["mix", "m", str(corpus), "--selection", "long", "--upsample", "domain3=3", "--tokens", "1e8"]),
        ("`curate mix` of every document, natural weights",
         ["mix", "all", str(corpus)]),
    ):
        seconds, peak, _ = measure([*curate, *command])
        rows.append((label, seconds, peak))
    print(f"\n{args.docs:,} documents\n")
    print("| command | seconds | docs/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|")
    for label, seconds, peak in rows:
        print(f"| {label} | {seconds:.1f} | {args.docs / seconds:,.0f} | {peak / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
