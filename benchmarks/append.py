"""The weekly-crawl workflow: append a new batch to a processed corpus and rerun the pipeline,
beside processing the whole corpus again from scratch (what a tool without appends does).

    python benchmarks/append.py --size-mb 100

The data is 8 JSONL files (every 10th document a copy of the one before); the corpus starts
with 7 of them, then the 8th is appended. The pipeline scores heuristics, deduplicates exactly
and with MinHash and embeds (hashing encoder), 2 workers. Each row is a whole command, start-up
included. No peer tool appends to a processed corpus, so the comparison is with a rerun.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from common import FILES, HERE, make_data, measure

from curation import Corpus

PIPELINE = """
corpus: {corpus}
workers: 2
inputs: [{inputs}]
stages:
  scores: [{{scorer: heuristics}}]
  exact_dedup: {{}}
  minhash: {{}}
  embed: {{encoder: hashing}}
"""


def pipeline(work: Path, name: str, files: list[Path]) -> Path:
    path = work / f"{name}.yaml"
    inputs = ", ".join(f"{{path: {file}}}" for file in files)
    path.write_text(PIPELINE.format(corpus=work / name, inputs=inputs))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    data = make_data(args.work, args.size_mb, duplicate_every=10)
    files = sorted(data.glob("part-*.jsonl"))
    assert len(files) == FILES
    work = args.work / f"append-{args.size_mb}mb"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    curate = [sys.executable, "-m", "curation.cli", "-q"]

    rows = []
    seconds, peak, _ = measure([*curate, "run", str(pipeline(work, "weekly", files[:-1]))])
    rows.append((f"first weeks: curate run over {FILES - 1} files", seconds, peak))
    seconds, peak, _ = measure([*curate, "ingest", str(files[-1]), "--corpus", str(work / "weekly"), "--append"])
    rows.append(("new week: curate ingest --append (1 file)", seconds, peak))
    seconds, peak, _ = measure([*curate, "run", str(work / "weekly.yaml")])
    rows.append(("new week: curate run again (map stages on the new parts only)", seconds, peak))
    seconds, peak, _ = measure([*curate, "run", str(pipeline(work, "scratch", files))])
    rows.append((f"from scratch: curate run over all {FILES} files", seconds, peak))

    weekly, scratch = Corpus.open(str(work / "weekly")), Corpus.open(str(work / "scratch"))
    same = all(weekly.sql(f"SELECT * FROM {t} ORDER BY id").equals(scratch.sql(f"SELECT * FROM {t} ORDER BY id"))
               for t in ("docs", "heuristics", "exact_dedup", "minhash"))
    print(f"\n{weekly.rows('docs'):,} documents, {args.size_mb} MB of JSONL, 2 workers; the appended corpus's "
          f"docs and attrs {'equal' if same else 'DIFFER FROM'} the from-scratch corpus's\n")
    print("| command | seconds | peak RSS (MB) |")
    print("|---|---:|---:|")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {peak / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
