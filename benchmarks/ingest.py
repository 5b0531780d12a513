"""Ingest benchmark: JSONL in, Parquet out, beside the practical ceiling and the peers.

    python benchmarks/ingest.py --size-mb 1024 [--datatrove-python /path/to/venv/bin/python]

Makes SIZE MB of JSONL from real text (the demo's raw inputs when built, else this
interpreter's standard library), in 8 files, then times each method in its own process and
samples the resident memory of that process and all its children (Dask workers included):

    curation      `curate ingest --workers 2`: every check (UTF-8, NFC, ids, sizes, rejects)
    pyarrow       pyarrow.json.read_json then pyarrow.parquet.write_table per file, no checks
    duckdb        COPY (SELECT * FROM read_json_auto(...)) TO ... (FORMAT parquet)
    datatrove     JsonlReader -> ParquetWriter, 2 tasks (needs datatrove in another venv)

For curation it reports the whole command (which starts a Prefect server and a Dask cluster)
and the ingest stage alone (corpus.json's wall time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import psutil
from common import FILES, HERE, make_data, measure


# -- the methods, each run in its own process -------------------------------------------------
def run_pyarrow(data: Path, out: Path) -> None:
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    for file in sorted(data.glob("*.jsonl")):
        pq.write_table(pj.read_json(file), out / f"{file.stem}.parquet")


def run_duckdb(data: Path, out: Path) -> None:
    import duckdb

    duckdb.sql(f"COPY (SELECT * FROM read_json_auto('{data}/*.jsonl')) TO '{out}/all.parquet' (FORMAT parquet)")


DATATROVE = """
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter
if __name__ == "__main__":
    LocalPipelineExecutor(
        pipeline=[JsonlReader(sys.argv[1], glob_pattern="*.jsonl"), ParquetWriter(sys.argv[2])],
        tasks=2, workers=2, logging_dir=sys.argv[3],
    ).run()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--datatrove-python", default=None, help="python of a venv with datatrove installed")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--run", choices=["pyarrow", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        {"pyarrow": run_pyarrow, "duckdb": run_duckdb}[args.run](args.data, args.out)
        return

    data = make_data(args.work, args.size_mb)
    size = sum(f.stat().st_size for f in data.glob("*.jsonl"))
    docs = int((data / ".done").read_text())
    methods = {
        "curation (2 workers)": lambda out: [sys.executable, "-m", "curation.cli", "ingest", str(data), "--corpus", str(out), "--workers", "2"],
        "pyarrow read_json + write_table": lambda out: [sys.executable, __file__, "--run", "pyarrow", "--data", str(data), "--out", str(out)],
        "duckdb COPY read_json_auto": lambda out: [sys.executable, __file__, "--run", "duckdb", "--data", str(data), "--out", str(out)],
    }
    if args.datatrove_python:
        script = args.work / "datatrove_ingest.py"
        script.write_text(DATATROVE)
        methods["datatrove JsonlReader -> ParquetWriter (2 tasks)"] = lambda out: [
            args.datatrove_python, str(script), str(data), str(out), str(out) + "-logs"]

    rows = []
    for name, command in methods.items():
        if args.only and not any(o in name for o in args.only):
            continue
        out = args.work / "result"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(str(out) + "-logs", ignore_errors=True)
        out.mkdir(parents=True)
        if name.startswith("curation"):
            shutil.rmtree(out)
        seconds, peak, _ = measure(command(out))
        rows.append((name, seconds, peak))
        if name.startswith("curation"):
            stage = json.loads((out / "corpus.json").read_text())["stages"][0]
            assert stage["rows_out"] == docs, "curation lost documents"
            rows.append(("curation: ingest stage alone", stage["wall_time_s"], peak))

    print(f"\n{size / 1e6:,.0f} MB of JSONL, {docs:,} documents, {FILES} files, {psutil.cpu_count()} cores\n")
    print("| method | seconds | MB/s | docs/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.1f} | {size / 1e6 / seconds:,.0f} | {docs / seconds:,.0f} | {peak / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
