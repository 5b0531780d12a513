"""Assemble the demo's raw inputs from real offline text, in every format ingest reads.

    raw/fortunes.jsonl          literature   JSONL
    raw/foldoc.jsonl.gz         reference    gzipped JSONL
    raw/python-stdlib.jsonl.zst code         zstd JSONL
    raw/metamath.parquet        math         Parquet
    raw/sqlite-site.csv         web          CSV, read through datasets.load_dataset
    raw/linux-doc/, python-doc/ docs         directories of .txt files
    raw/debian-handbook/        books        a datasets.save_to_disk directory, 26 languages
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
import shutil
from importlib.resources import files
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from curation.demo import sources
from curation.errors import UserError

DEFAULT_DATA_DIR = Path(os.environ.get("CURATION_DEMO_DATA", Path.home() / ".cache/curation/debian"))


def check_data(data_dir: Path) -> None:
    missing = [p for p in sources.DEBIAN_PACKAGES if not (data_dir / f"{p}.unpacked").exists()]
    if missing:
        raise UserError(
            f"demo text not found in {data_dir} (missing {', '.join(missing)}); "
            "fetch it once with scripts/fetch-demo-data"
        )


def build_raw(data_dir: Path, raw: Path, limit: int) -> None:
    """Write the raw inputs under ``raw`` (skipped when a build with the same limit is there)."""
    check_data(data_dir)
    stamp = raw / ".built"
    if stamp.exists() and stamp.read_text() == str(limit):
        return
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    root = data_dir / "root"

    def take(iterator):
        return itertools.islice(iterator, limit)

    _jsonl(raw / "fortunes.jsonl", ({"id": i, "text": t} for i, t in take(sources.fortunes(root))), open)
    _jsonl(raw / "foldoc.jsonl.gz", ({"id": i, "text": t, "headword": i} for i, t in take(sources.foldoc(root))), gzip.open)
    _jsonl(raw / "python-stdlib.jsonl.zst", ({"id": i, "text": t, "language": "python"} for i, t in take(sources.python_stdlib())), _zstd_open)
    theorems = list(take(sources.metamath(root)))
    # Theorem labels such as "id" are also dictionary headwords, so they get a namespace.
    pq.write_table(pa.table({"id": [f"set.mm/{i}" for i, _ in theorems], "text": [t for _, t in theorems]}), raw / "metamath.parquet")
    with open(raw / "sqlite-site.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "url", "text"])
        writer.writerows((i, f"https://sqlite.org/{i}", t) for i, t in take(sources.sqlite_site(root)))
    for name, pages in (("linux-doc", sources.linux_docs(root)), ("python-doc", sources.python_docs(root))):
        for relative, text in take(pages):
            path = raw / name / f"{relative}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    _handbook(raw / "debian-handbook", list(take(sources.debian_handbook(root))))
    stamp.write_text(str(limit))


def _jsonl(path: Path, records, opener) -> None:
    with opener(path, "wb") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")


def _zstd_open(path: Path, mode: str):
    return zstandard.open(path, mode)


def _handbook(path: Path, pages: list[tuple[str, str, str]]) -> None:
    import datasets

    table = {
        "id": [i for i, _, _ in pages],
        "text": [t for _, t, _ in pages],
        "language": [lang for _, _, lang in pages],
    }
    datasets.Dataset.from_dict(table).save_to_disk(str(path))


def pipeline_template() -> str:
    return files("curation.demo").joinpath("pipeline.yaml").read_text()
