"""Faults lose nothing: `curate run` killed with SIGKILL in the middle of two different stages,
then rerun, ends with every part, selection and mixture file byte-identical to an uninterrupted
run (benchmarks/soak.py does the same at random moments, many times)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from common import output_checksums
from conftest import CURATE, kill_once_staged, write_jsonl

from curation import Corpus
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR

PIPELINE = (Path(__file__).resolve().parent.parent / "benchmarks" / "soak_pipeline.yaml").read_text()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The inputs and the outputs of an uninterrupted run, made in the folder every trial reuses
    (a mixture's manifest names its corpus by path)."""
    work = tmp_path_factory.mktemp("soak")
    root = DEFAULT_DATA_DIR / "root"
    write_jsonl(work / "docs.jsonl", [{"id": f"d{i}", "text": t[:3000]} for i, (_, t) in enumerate(itertools.islice(sources.linux_docs(root), 600))])
    write_jsonl(work / "fortunes.jsonl", [{"id": f"f{i}", "text": t} for i, (_, t) in enumerate(itertools.islice(sources.fortunes(root), 600))])
    (work / "pipeline.yaml").write_text(PIPELINE)
    result = subprocess.run(_command(work), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = output_checksums(Corpus.open(str(work / "corpus")))
    shutil.rmtree(work / "corpus")
    return work, reference


def _command(work) -> list[str]:
    return [*CURATE, "-q", "run", str(work / "pipeline.yaml"), "--workers", "2"]


# Mid-ingest is tests/test_kill_and_resume.py's; mid-heuristics, tests/test_heuristics.py's and
# the signal tests of tests/test_runtime.py.
@pytest.mark.parametrize("pattern", ["embed-*/out/part-*.parquet"])
def test_sigkill_in_a_stage_then_rerun_gives_the_uninterrupted_outputs(work, pattern):
    work, reference = work
    try:
        kill_once_staged(_command(work), work / "corpus" / ".staging", pattern, count=2)
        rerun = subprocess.run(_command(work), capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        outputs = output_checksums(Corpus.open(str(work / "corpus")))
        assert outputs.keys() == reference.keys()
        assert [path for path in outputs if outputs[path] != reference[path]] == []
    finally:
        shutil.rmtree(work / "corpus", ignore_errors=True)
