"""The corpus store: atomic parts, streaming, the manifest, the writer lock, fsspec URLs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pytest
from conftest import write_jsonl

from curation import Corpus
from curation.corpus import DOCS_SCHEMA, StageRecord
from curation.errors import CorpusLocked, UserError
from curation.exact_dedup import ExactDedupConfig
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run


def docs_table(n: int) -> pa.Table:
    return pa.table(
        {"id": [f"d{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)], "source": ["s"] * n,
         "url": [None] * n, "domain": [None] * n, "meta": ["{}"] * n},
        schema=DOCS_SCHEMA,
    )


def test_parts_are_written_atomically_listed_in_order_and_streamed_by_column(tmp_path):
    corpus = Corpus.create(str(tmp_path / "c"))
    corpus.write_part("docs", "part-00001", docs_table(3))
    corpus.write_part("docs", "part-00000", docs_table(10_000))
    (tmp_path / "c" / "docs" / ".tmp-leftover.parquet").write_bytes(b"half a file")
    assert corpus.parts("docs") == ["part-00000", "part-00001"]
    batches = list(corpus.iter_batches("docs", "part-00000", columns=["id"], batch_size=4096))
    assert [b.num_rows for b in batches] == [4096, 4096, 1808]
    assert batches[0].schema.names == ["id"]
    assert corpus.rows("docs") == 10_003
    # The SQL views read only finished parts, never the leftover temporary file.
    assert corpus.sql("SELECT count(*) AS n FROM docs").to_pylist() == [{"n": 10_003}]


def test_manifest_keeps_one_record_per_stage(tmp_path):
    corpus = Corpus.create(str(tmp_path / "c"))
    record = StageRecord("x", {"a": 1}, "cfg", "inp", 10, 8, 0.5, 1)
    corpus.record_stage(record)
    corpus.record_stage(StageRecord("x", {"a": 2}, "cfg2", "inp", 10, 7, 0.5, 1))
    assert [r["config"] for r in corpus.manifest()["stages"]] == [{"a": 2}]
    assert corpus.stage("x").matches("cfg2", "inp") and not corpus.stage("x").matches("cfg", "inp")


def test_open_requires_a_corpus(tmp_path):
    with pytest.raises(UserError, match="not a corpus"):
        Corpus.open(str(tmp_path))


HOLD_LOCK = """
import sys, time
from curation import Corpus
with Corpus.open(sys.argv[1]).writer_lock("curate dedup --exact"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_fails_at_once_naming_the_holder_and_a_dead_holder_is_taken_over(tmp_path):
    Corpus.create(str(tmp_path / "c"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "c")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.time()
        with pytest.raises(CorpusLocked) as error:
            with Corpus.open(str(tmp_path / "c")).writer_lock("curate ingest"):
                pass
        assert time.time() - started < 2
        assert "curate dedup --exact" in str(error.value) and f"pid {holder.pid}" in str(error.value)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with Corpus.open(str(tmp_path / "c")).writer_lock("curate ingest"):  # the holder is dead
        assert (tmp_path / "c" / "corpus.lock").exists()
    assert not (tmp_path / "c" / "corpus.lock").exists()


def test_a_second_curate_run_is_refused_at_once(tmp_path, capsys):
    from curation.cli import main

    write_jsonl(tmp_path / "in.jsonl", [{"text": "one"}, {"text": "two"}])
    (tmp_path / "pipeline.yaml").write_text("corpus: c\ninputs: [{path: in.jsonl}]\n")
    Corpus.create(str(tmp_path / "c"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.replace("curate dedup --exact", "run"), str(tmp_path / "c")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.time()
        assert main(["run", str(tmp_path / "pipeline.yaml")]) == 2
        assert time.time() - started < 5  # before any Prefect server or Dask cluster starts
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and "locked by `run`" in error and f"pid {holder.pid}" in error
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


def test_a_file_url_corpus_works_end_to_end(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "one"}, {"text": "two"}, {"text": "one"}])
    url = f"file://{tmp_path}/c"
    summary = run(url, IngestConfig(inputs=[InputSpec(f"file://{tmp_path}/in.jsonl")]))
    assert summary.rows_out == 3
    run(url, ExactDedupConfig())
    corpus = Corpus.open(url)
    assert corpus.parts("docs") == ["part-00000"]
    assert corpus.sql("SELECT count(*) AS n FROM corpus WHERE exact_dedup.keep").to_pylist() == [{"n": 2}]
    assert (tmp_path / "c" / "docs" / "part-00000.parquet").exists()
