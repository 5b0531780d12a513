"""Heuristic filters benchmark: `curate score --scorer heuristics` beside datatrove's Gopher
quality, Gopher repetition, C4 and FineWeb filters on the same JSONL, 2 workers each.

    python benchmarks/heuristics.py --size-mb 100 --peers-python /path/to/venv/bin/python

(the peers' venv needs datatrove[processing] and spacy). datatrove runs its four filters in one
pipeline, so each later filter sees only what the earlier ones kept; curation measures every
rule on every document. Both read the same files; curation's figure is the stage on an ingested
corpus, and the whole command beside it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from common import HERE, make_data, measure

from curation import Corpus

DATATROVE = r"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.readers import JsonlReader
if __name__ == "__main__":
    data, work = sys.argv[1], sys.argv[2]
    LocalPipelineExecutor([JsonlReader(data, glob_pattern="*.jsonl"), GopherRepetitionFilter(), GopherQualityFilter(),
                           C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()],
                          tasks=2, workers=2, logging_dir=f"{work}/logs").run()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--peers-python", default=None)
    args = parser.parse_args()
    data = make_data(args.work, args.size_mb)
    corpus_dir = args.work / f"heuristics-{args.size_mb}mb"
    if not (corpus_dir / "corpus.json").exists():
        from curation.ingest.stage import IngestConfig
        from curation.ingest.units import InputSpec
        from curation.stage import run

        run(str(corpus_dir), IngestConfig(inputs=[InputSpec(str(data))]))
    corpus = Corpus.open(str(corpus_dir))
    docs = corpus.rows("docs")
    corpus.forget_stages(["heuristics"])
    seconds, peak, _ = measure([sys.executable, "-m", "curation.cli", "-q", "score", str(corpus_dir), "--scorer", "heuristics", "--workers", "2"])
    stage = Corpus.open(str(corpus_dir)).stage("heuristics")
    rows = [("curation `curate score --scorer heuristics` (whole command)", seconds, peak),
            ("curation, the scoring stage alone", stage.wall_time_s, peak)]
    if args.peers_python:
        work = args.work / "heuristics-peer"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "run_datatrove.py").write_text(DATATROVE)
        seconds, peak, _ = measure([args.peers_python, str(work / "run_datatrove.py"), str(data), str(work)])
        rows.append(("datatrove Gopher repetition + Gopher quality + C4 + FineWeb, 2 tasks", seconds, peak))
    print(f"\n{docs:,} documents, {args.size_mb} MB of JSONL, 2 workers; {stage.rows_out:,} pass every rule\n")
    print("| method | seconds | docs/s | MB/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {docs / seconds:,.0f} | {args.size_mb / seconds:,.1f} | {peak / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
