"""What a command costs before and around its work: a one-document ingest, an ingest of about
20,000 documents, and a whole small job (ingest, fuzzy dedup, two SQL queries), each run cold
(nothing running) and with the local runtime of `curate up`, beside datatrove reading the same
files and writing Parquet with 2 tasks, and running its MinHash pipeline on them.

    python benchmarks/startup.py [--peers-python /path/to/venv/bin/python]

(the peers' venv needs `datatrove[processing]` and spacy). Median wall seconds and peak RSS of each command's whole process
tree; with `curate up`, the runtime's own processes are not counted (they run before and after).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from common import HERE, make_data, measure
from dedup import DATATROVE as DATATROVE_MINHASH

DATATROVE = r"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter
if __name__ == "__main__":
    data, work = sys.argv[1], sys.argv[2]
    LocalPipelineExecutor([JsonlReader(data, glob_pattern="*.jsonl"), ParquetWriter(f"{work}/out")],
                          tasks=2, workers=2, logging_dir=f"{work}/logs").run()
"""


def jobs(work: Path, one: Path, many: Path) -> dict[str, list[list[str]]]:
    curate = [sys.executable, "-m", "curation.cli", "-q"]
    corpus = str(work / "corpus")
    return {
        "one-document ingest": [[*curate, "ingest", str(one), "--corpus", corpus]],
        f"ingest of {_documents(many):,} documents": [[*curate, "ingest", str(many), "--corpus", corpus]],
        "ingest + fuzzy dedup + two SQL queries": [
            [*curate, "ingest", str(many), "--corpus", corpus],
            [*curate, "minhash", corpus],
            [*curate, "sql", corpus, "SELECT count(*) FROM minhash WHERE NOT keep"],
            [*curate, "sql", corpus, "SELECT cluster_size, count(*) FROM minhash GROUP BY ALL ORDER BY 1"],
        ],
    }


def _documents(folder: Path) -> int:
    return int((folder / ".done").read_text())


def run_job(commands: list[list[str]], work: Path, repeat: int) -> tuple[float, int]:
    """The median wall seconds of ``repeat`` runs from an empty corpus, and the highest peak."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(work / "corpus", ignore_errors=True)
        seconds, peak = 0.0, 0
        for command in commands:
            took, memory, _ = measure(command)
            seconds, peak = seconds + took, max(peak, memory)
        runs.append((seconds, peak))
    return statistics.median(seconds for seconds, _ in runs), max(peak for _, peak in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=HERE / "out" / "startup")
    parser.add_argument("--peers-python", default=None)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each curate job (the median is printed)")
    args = parser.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "one").mkdir(parents=True)
    (work / "one" / "one.jsonl").write_text('{"id": "a", "text": "one document"}\n')
    many = make_data(HERE / "out", 70)  # about 20,000 documents in 8 files
    os.environ["CURATION_RUNTIME"] = str(work / "runtime")
    rows = []
    for label, commands in jobs(work, work / "one" / "one.jsonl", many).items():
        rows.append((f"curate, cold: {label}", *run_job(commands, work, args.repeat)))
    up = [sys.executable, "-m", "curation.cli", "up", "--workers", "2"]
    seconds, _, _ = measure(up)
    rows.append(("curate up (once)", seconds, 0))
    try:
        for label, commands in jobs(work, work / "one" / "one.jsonl", many).items():
            rows.append((f"curate, with curate up: {label}", *run_job(commands, work, args.repeat)))
    finally:
        subprocess.run([sys.executable, "-m", "curation.cli", "down"], check=True, capture_output=True)
    if args.peers_python:
        peers = {"one-document ingest": (DATATROVE, work / "one"), f"ingest of {_documents(many):,} documents": (DATATROVE, many),
                 # Its MinHash pipeline (read, signatures, buckets, clusters, filter) is the job's
                 # ingest and dedup; it has no SQL to query its output with.
                 "read + fuzzy dedup": (DATATROVE_MINHASH, many)}
        for label, (script, data) in peers.items():
            shutil.rmtree(work / "datatrove", ignore_errors=True)
            (work / "datatrove").mkdir()
            (work / "datatrove" / "run.py").write_text(script)
            seconds, peak, _ = measure([args.peers_python, str(work / "datatrove" / "run.py"), str(data), str(work / "datatrove")])
            rows.append((f"datatrove LocalPipelineExecutor, 2 tasks: {label}", seconds, peak))
    print("\n| command | wall seconds | peak RSS (MB) |")
    print("|---|---:|---:|")
    for label, seconds, peak in rows:
        print(f"| {label} | {seconds:.1f} | {peak / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
