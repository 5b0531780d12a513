"""A SIGKILL in the middle of an ingest, then a rerun: the same documents as an uninterrupted
run, and never a half-written part where a reader could see it."""

from __future__ import annotations

import subprocess

import orjson
import pyarrow.parquet as pq
from conftest import CURATE, kill_once_staged, stdlib_texts

from curation import Corpus
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run


def make_inputs(directory, files: int = 40, records: int = 4000):
    texts = [t[:1500] for _, t in stdlib_texts(50)]
    for f in range(files):
        lines = (orjson.dumps({"id": f"f{f}-{i}", "text": f"{i} {texts[(f + i) % len(texts)]}"}) for i in range(records))
        (directory / f"in{f:02d}.jsonl").write_bytes(b"\n".join(lines) + b"\n{broken\n")
    return directory


def test_sigkill_mid_ingest_then_rerun_gives_the_uninterrupted_corpus(tmp_path):
    (tmp_path / "inputs").mkdir()
    inputs = make_inputs(tmp_path / "inputs")
    corpus_dir = tmp_path / "killed"
    command = [*CURATE, "ingest", str(inputs), "--corpus", str(corpus_dir), "--workers", "1", "--shard-size", "1500"]
    kill_once_staged(command, corpus_dir / ".staging", "ingest-*/unit-*.done.json", count=3)

    assert Corpus.open(str(corpus_dir)).stage("ingest") is None, "killed too late: ingest had finished"
    for part in (corpus_dir / "docs").glob("part-*.parquet") if (corpus_dir / "docs").exists() else []:
        pq.read_table(part)  # anything named like a part is a whole part

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "docs 160,000" in rerun.stdout and "rejected 40: malformed_json" in rerun.stdout

    reference = tmp_path / "reference"
    run(str(reference), IngestConfig(inputs=[InputSpec(str(inputs))], shard_size=1500))
    killed, clean = Corpus.open(str(corpus_dir)), Corpus.open(str(reference))
    assert killed.parts("docs") == clean.parts("docs")
    for part in clean.parts("docs"):
        assert killed.read_part("docs", part).equals(clean.read_part("docs", part)), part
    assert killed.rows("rejects") == clean.rows("rejects") == 40
    assert not (corpus_dir / ".staging").exists()
