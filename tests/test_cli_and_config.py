"""The command line and the pipeline file: one-line errors, exit codes, reruns that skip."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import warnings

import pytest
from conftest import CURATE, stdlib_texts, write_jsonl

from curation import Corpus
from curation.cli import main
from curation.config import load_config
from curation.errors import UserError


def run_curate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_input_path_exits_2_with_one_line_and_creates_nothing(tmp_path):
    result = run_curate("ingest", str(tmp_path / "nope.jsonl"), "--corpus", str(tmp_path / "c"))
    assert_one_line_error(result, "no such input", "nope.jsonl")
    assert not (tmp_path / "c").exists()


def test_bad_option_exits_2_with_one_line(tmp_path):
    assert_one_line_error(run_curate("ingest", "x.jsonl", "--corpus", "c", "--shard-size", "zero"), "--shard-size")
    assert_one_line_error(run_curate("ingest", "x.jsonl", "--corpus", "c", "--no-such-option"), "--no-such-option")
    assert_one_line_error(run_curate("dedup", str(tmp_path), "--exact"), "not a corpus")
    assert_one_line_error(run_curate("report", "nonesuch", str(tmp_path)), "not a corpus")


def test_unknown_config_key_is_named_with_its_place(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("corpus: c\ninputs: [{path: in.jsonl}]\nstages:\n  exact_dedup: {scope: global, normalise: lower}\n")
    with pytest.raises(UserError, match=r"unknown key 'normalise' at stages\.exact_dedup\.normalise"):
        load_config(str(pipeline))
    assert_one_line_error(run_curate("run", str(pipeline)), "unknown key 'normalise'")
    pipeline.write_text("corpus: c\ninputs: [{path: in.jsonl}]\nstages: {exact_dedup: {scope: galaxy}}\n")
    with pytest.raises(UserError, match=r"stages\.exact_dedup\.scope"):
        load_config(str(pipeline))
    pipeline.write_text("inputs: [{path: in.jsonl}]\n")
    with pytest.raises(UserError, match="missing key corpus"):
        load_config(str(pipeline))


def test_config_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.yaml").write_text("corpus: out\ninputs: [{path: ../in.jsonl, source: s}]\n")
    config = load_config(str(tmp_path / "sub" / "p.yaml"))
    assert config.corpus == str(tmp_path / "sub" / "out")
    assert config.ingest.inputs[0].path == str(tmp_path / "in.jsonl")


def test_pipeline_reruns_skip_finished_stages_and_redo_what_changed(tmp_path, dask_address):
    from flows.pipeline import run_pipeline

    texts = stdlib_texts(20)
    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for _, t in texts] + [{"text": texts[3][1].upper()}])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("corpus: c\ninputs: [{path: in.jsonl, domain: code}]\nstages: {exact_dedup: {normalize: whitespace}}\n")
    run_pipeline(load_config(str(pipeline)), dask_address)
    corpus = Corpus.open(str(tmp_path / "c"))
    first = {r["name"]: r["finished_at"] for r in corpus.manifest()["stages"]}
    assert corpus.stage("exact_dedup").rows_out == 21

    run_pipeline(load_config(str(pipeline)), dask_address)
    assert {r["name"]: r["finished_at"] for r in corpus.manifest()["stages"]} == first

    pipeline.write_text(pipeline.read_text().replace("whitespace", "lower"))
    results = run_pipeline(load_config(str(pipeline)), dask_address)
    assert results["ingest"].skipped
    assert corpus.stage("exact_dedup").rows_out == 20
    assert corpus.stage("ingest").finished_at == first["ingest"]


def test_a_changed_stage_reruns_with_what_depends_on_it_and_nothing_else(tmp_path, dask_address):
    from flows.pipeline import run_pipeline

    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for _, t in stdlib_texts(120)])
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("corpus: c\ninputs: [{path: in.jsonl}]\nstages:\n  scores: [{scorer: heuristics}]\n"
                        "  exact_dedup: {}\n  embed: {encoder: hashing, max_chars: 2000}\n  clusters: {k: [6, 2]}\n"
                        "  semdedup: {eps: [0.1]}\n")
    run_pipeline(load_config(str(pipeline)), dask_address)
    corpus = Corpus.open(str(tmp_path / "c"))
    first = {r["name"]: r["finished_at"] for r in corpus.manifest()["stages"]}
    time.sleep(1.1)  # finished_at has one-second resolution
    pipeline.write_text(pipeline.read_text().replace("max_chars: 2000", "max_chars: 1000"))
    run_pipeline(load_config(str(pipeline)), dask_address)
    second = {r["name"]: r["finished_at"] for r in corpus.manifest()["stages"]}
    rerun = sorted(name for name in first if second[name] != first[name])
    assert rerun == ["clusters", "embed", "semdedup"]


def test_curate_sql_in_process_reports_sql_errors_as_one_line(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "x"}])
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run

    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    assert main(["sql", str(tmp_path / "c"), "SELECT no_such_column FROM docs"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: SQL error") and "\n" not in err


@pytest.mark.parametrize("place", ["before", "after"])
def test_quiet_and_verbose_go_before_or_after_the_subcommand(tmp_path, place, monkeypatch, capsys):
    for name in ("CURATION_PROGRESS", "PREFECT_LOGGING_LEVEL", "DASK_LOGGING__DISTRIBUTED"):
        monkeypatch.delenv(name, raising=False)  # and restored after the test
    write_jsonl(tmp_path / "in.jsonl", [{"text": "x"}])
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run

    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    command = ["sql", str(tmp_path / "c"), "SELECT count(*) AS n FROM docs"]
    flags = ["-q", "--verbose"]
    assert main(flags + command if place == "before" else command + flags) == 0
    assert "1" in capsys.readouterr().out
    assert os.environ["CURATION_PROGRESS"] == "0" and os.environ["PREFECT_LOGGING_LEVEL"] == "INFO"


def test_without_verbose_orchestration_logs_only_errors(monkeypatch):
    for name in ("PREFECT_LOGGING_LEVEL", "DASK_LOGGING__DISTRIBUTED"):
        monkeypatch.delenv(name, raising=False)
    assert main(["scorers"]) == 0
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "ERROR" and os.environ["DASK_LOGGING__DISTRIBUTED"] == "error"


def test_a_cluster_started_beside_another_says_nothing_about_its_ports():
    """Dask's HTTP endpoint defaults to port 8787 and warns when it is taken (another cluster)."""
    from flows.runtime import dask_cluster

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # already taken by something else: as good
            taken.bind(("", 8787))
            taken.listen()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with dask_cluster(workers=1) as address:
                assert address.startswith("tcp://")
    assert [w for w in caught if "already in use" in str(w.message)] == []
