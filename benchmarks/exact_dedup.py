"""Exact dedup benchmark: planted exact duplicates in real text, curation beside datatrove.

    python benchmarks/exact_dedup.py --size-mb 1024 [--datatrove-python /path/to/venv/bin/python]

Every 10th document repeats the text of the one before it. curation: the corpus is ingested
first (not timed), then `curate dedup --exact --workers 2` is timed (whole command, and the stage
alone from corpus.json). datatrove: its three exact-dedup steps (signatures, find, filter) with 2
tasks, which read the JSONL and write the kept documents, as datatrove's design requires. Both
must find the same number of duplicates.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import psutil
import pyarrow.parquet as pq
from common import HERE, make_data, measure

DATATROVE = """
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter

def text(doc) -> str:
    return doc.text

if __name__ == "__main__":
    data, work = sys.argv[1], sys.argv[2]
    config = ExactDedupConfig(content_getter=text)
    read = lambda: JsonlReader(data, glob_pattern="*.jsonl")
    LocalPipelineExecutor([read(), ExactDedupSignature(f"{work}/sigs", config)], tasks=2, workers=2, logging_dir=f"{work}/l1").run()
    LocalPipelineExecutor([ExactFindDedups(f"{work}/sigs", f"{work}/dups", config)], tasks=1, logging_dir=f"{work}/l2").run()
    LocalPipelineExecutor([read(), ExactDedupFilter(f"{work}/dups", config), ParquetWriter(f"{work}/kept")],
                          tasks=2, workers=2, logging_dir=f"{work}/l3").run()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--datatrove-python", default=None)
    args = parser.parse_args()

    data = make_data(args.work, args.size_mb, duplicate_every=10)
    docs = int((data / ".done").read_text())
    planted = (docs - 1) // 10
    corpus = args.work / f"corpus-{data.name}"
    if not (corpus / "corpus.json").exists():
        from curation.ingest.stage import IngestConfig
        from curation.ingest.units import InputSpec
        from curation.stage import run

        run(str(corpus), IngestConfig(inputs=[InputSpec(str(data))]))
    from curation.corpus import Corpus

    Corpus.open(str(corpus)).forget_stages(["exact_dedup"])
    rows = []
    seconds, peak, _ = measure([sys.executable, "-m", "curation.cli", "dedup", str(corpus), "--exact", "--workers", "2"])
    stage = Corpus.open(str(corpus)).stage("exact_dedup")
    found = stage.rows_in - stage.rows_out
    assert found == planted, f"curation found {found} duplicates, {planted} planted"
    rows += [("curation `curate dedup --exact` (whole command)", seconds, peak, found),
             ("curation, the exact dedup stage alone", stage.wall_time_s, peak, found)]

    if args.datatrove_python:
        work = args.work / "datatrove-exact"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        script = work / "run.py"
        script.write_text(DATATROVE)
        seconds, peak, _ = measure([args.datatrove_python, str(script), str(data), str(work)])
        kept = sum(pq.ParquetFile(f).metadata.num_rows for f in (work / "kept").glob("*.parquet"))
        rows.append(("datatrove 3-step exact dedup, 2 tasks", seconds, peak, docs - kept))

    size = sum(f.stat().st_size for f in data.glob("*.jsonl"))
    print(f"\n{size / 1e6:,.0f} MB of JSONL, {docs:,} documents, {planted:,} planted duplicates, {psutil.cpu_count()} cores\n")
    print("| method | seconds | MB/s | docs/s | peak RSS (MB) | duplicates found |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, peak, found in rows:
        print(f"| {name} | {seconds:.1f} | {size / 1e6 / seconds:,.0f} | {docs / seconds:,.0f} | {peak / 1e6:,.0f} | {found:,} |")


if __name__ == "__main__":
    main()
