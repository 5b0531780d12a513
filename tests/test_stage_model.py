"""The stage model (curation.stage, curation.registry): one declaration per stage, from which the
pipeline order, the command's options and both executors follow."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import typing

import click
import pyarrow.parquet as pq
import pytest
from conftest import CURATE, stdlib_texts, write_jsonl

from curation import Corpus, checksums, registry
from curation.catalog import report_sql
from curation.cli import cli
from curation.cli.options import _without_none
from curation.cli.stages import DEDUP_METHODS, DEDUP_OPTIONS
from curation.embed.stage import EmbedConfig
from curation.exact_dedup import ExactDedupConfig
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.minhash.stage import MinhashConfig
from curation.report.html import write_report
from curation.semdedup import SemdedupConfig
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part, execute, in_this_process, plan, run
from flows.stage import run_flow
from scorers.stage import ScoreConfig


def test_pipeline_order_follows_from_what_each_stage_reads():
    assert [stage.name for stage in registry.stages()] == [
        "ingest", "score", "tokens", "exact_dedup", "minhash", "embed", "clusters", "semdedup", "ablate"]
    for position, stage in enumerate(registry.stages()):
        earlier = {s.name for s in registry.stages()[:position]}
        assert set(stage.reads) | set(stage.reads_if_present) <= earlier, stage.name


def _field_params(command: click.Command) -> dict[str, click.Parameter]:
    return {param.name: param for param in command.params}


def _check_options(command: click.Command, model, options) -> int:
    """Every field's option leaves its default to the model and offers the model's choices."""
    params = _field_params(command)
    checked = 0
    for option in options:
        param = params[option.parameter]
        info = model.model_fields[option.field]
        assert param.default in (None, ()), (command.name, option.flag, param.default)
        assert not param.required or info.is_required(), (command.name, option.flag)
        annotation = _without_none(info.annotation)
        if typing.get_origin(annotation) is typing.Literal:
            assert tuple(param.type.choices) == typing.get_args(annotation), (command.name, option.flag)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if default not in (None, (), [], "") and not isinstance(default, dict):
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
            assert f"[default: {shown}]" in param.help, (command.name, option.flag, param.help)
        checked += 1
    return checked


def test_every_stage_command_takes_its_defaults_and_choices_from_the_config_model():
    from curation.cli.ablate import ABLATE_OPTIONS
    from curation.cli.options import field_options
    from curation.cli.stages import INGEST_OPTIONS, INPUT_OPTIONS, SCORE_OPTIONS

    checked = 0
    for stage in registry.stages():
        command = cli.commands[stage.name]
        if stage.name == "ingest":
            checked += _check_options(command, IngestConfig, INGEST_OPTIONS) + _check_options(command, InputSpec, INPUT_OPTIONS)
        elif stage.name == "score":
            checked += _check_options(command, ScoreConfig, SCORE_OPTIONS)
        elif stage.name == "ablate":
            checked += _check_options(command, stage.config, ABLATE_OPTIONS)
        else:
            options = field_options(stage.config)
            assert {o.field for o in options} == set(stage.config.model_fields), stage.name
            checked += _check_options(command, stage.config, options)
    for method, (config, options) in DEDUP_OPTIONS.items():
        assert config is registry.stage_named(DEDUP_METHODS[method]).config
        checked += _check_options(cli.commands["dedup"], config, options)
    assert checked > 40
    # The seed `curate dedup --semantic` used to default to 1 while the YAML default was 0.
    flags = {o.field: o.flag for o in DEDUP_OPTIONS["semantic"][1]}
    assert flags["seed"] == "--semantic-seed" and SemdedupConfig().seed == 0


def test_a_bad_flag_value_names_the_flag_and_a_bad_yaml_value_its_key(tmp_path):
    result = subprocess.run([*CURATE, "dedup", str(tmp_path), "--fuzzy", "--fuzzy-keep", "tallest"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--fuzzy-keep" in result.stderr
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("corpus: c\ninputs: [{path: in.jsonl}]\nstages:\n  minhash: {keep: tallest}\n")
    result = subprocess.run([*CURATE, "run", str(pipeline)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "stages.minhash.keep" in result.stderr and "--" not in result.stderr


@pytest.fixture
def toy_registered(monkeypatch):
    """The toy stage of tests/toy_stage.py, registered as a plugin would be, for this test only."""
    monkeypatch.setattr(registry, "_extra", [])
    registry.stages.cache_clear()
    registry.register("toy_stage")
    yield
    registry.stages.cache_clear()


def _toy_corpus(tmp_path, name: str) -> str:
    texts = [t for _, t in stdlib_texts(12)] + ["tiny", "short one"]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    corpus_dir = str(tmp_path / name)
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=5))
    return corpus_dir


def test_a_stage_declared_outside_the_library_runs_through_both_executors(tmp_path, toy_registered, dask_address):
    from toy_stage import ToyLengthsConfig

    assert registry.stages()[-1].name == "toy_lengths"  # after ingest, the one stage it reads
    plain, flow = _toy_corpus(tmp_path, "plain"), _toy_corpus(tmp_path, "flow")
    record = run(plain, ToyLengthsConfig(min_chars=12))
    assert (record.rows_in, record.rows_out, record.stage) == (14, 12, "toy_lengths")
    assert run_flow(flow, ToyLengthsConfig(min_chars=12), dask_address).rows_out == 12
    query = "SELECT id, toy_lengths.chars, toy_lengths.keep, toy_lengths.reason FROM corpus ORDER BY id"
    rows = Corpus.open(plain).sql(query)
    assert rows.equals(Corpus.open(flow).sql(query))
    assert {r["id"] for r in rows.to_pylist() if r["reason"] == "short"} == {"d12", "d13"}
    assert run(plain, ToyLengthsConfig(min_chars=12)).skipped
    assert "toy_lengths" in registry.table_writers(Corpus.open(plain)).values()  # checksummed, verifiable
    for corpus_dir in (plain, flow):  # both executors time each task of a step over the docs parts
        (step,) = Corpus.open(corpus_dir).stage("toy_lengths").part_steps
        assert (step["step"], step["tasks"], step["docs"]) == ("measure-part", 3, 14) and step["docs_per_core_s"] > 0


def _sleep_longer_later(plan: StagePlan, part: str) -> None:
    time.sleep(0.02 if plan.parts.index(part) < len(plan.parts) // 2 else 0.2)


def _rows(plan: StagePlan) -> StageResult:
    return StageResult(sum(plan.part_rows), sum(plan.part_rows))


SLOWING = Stage(name="slowing", config=StageConfig, writes=(), steps=(Step(_sleep_longer_later, over=each_part), Step(_rows)))


def test_a_map_stage_records_its_rate_per_core_and_a_rate_that_falls_is_named_in_the_report(tmp_path):
    corpus_dir = _toy_corpus(tmp_path, "c")
    execute(plan(Corpus.open(corpus_dir), SLOWING, StageConfig()), in_this_process)
    record = Corpus.open(corpus_dir).stage("slowing")
    (step,) = record.part_steps
    assert (step["tasks"], step["docs"]) == (3, 14) and list(record.step_seconds) == ["sleep-longer-later", "rows"]
    assert record.step_seconds["sleep-longer-later"] >= 0.42
    # A task lasts at least its sleep, so each rate is at most documents over the seconds slept.
    assert 0 < step["docs_per_core_s"] <= 14 / (0.02 + 0.2 + 0.2) and record.docs_per_core_s == step["docs_per_core_s"]
    assert step["first_half"] <= 5 / 0.02 and step["last_half"] <= 9 / 0.4 < 0.9 * step["first_half"]
    page = open(write_report(corpus_dir), encoding="utf-8").read()
    assert "slowing (" in page and "docs/s per core" in page and "Slower in the last half of the tasks than the first" in page
    assert "slowing measure-part" not in page and "slowing sleep-longer-later" in page  # in the longest steps too
    assert "docs_per_core_s" in Corpus.open(corpus_dir).sql(report_sql("funnel")).column_names


def test_the_funnel_gives_drops_by_reason_for_every_stage_and_a_cumulative_line(tmp_path):
    texts = [t for _, t in stdlib_texts(40)]
    records = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    records += [{"id": "copy", "text": texts[0]}, {"id": "near", "text": texts[1].replace("def ", "def  ", 3) + " x"}]
    write_jsonl(tmp_path / "in.jsonl", [*records, b"{not json", {"id": "short", "text": "two words"}])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=10))
    for config in (ScoreConfig(scorer="heuristics"), ExactDedupConfig(), MinhashConfig(threshold=0.7), EmbedConfig(),
                   SemdedupConfig(eps=(0.3,))):
        run(corpus_dir, config)
    corpus = Corpus.open(corpus_dir)

    funnel = {r["stage"]: r for r in corpus.sql(report_sql("funnel")).to_pylist()}
    for stage, reason in (("ingest", "ingest:malformed_json 1"), ("exact_dedup", "exact_dedup:duplicate 1"),
                          ("minhash", "minhash:near_duplicate"), ("heuristics", "heuristics:"), ("semdedup", "semdedup:eps_0.3")):
        assert reason in (funnel[stage]["reasons"] or ""), (stage, funnel[stage])
    for stage, row in funnel.items():
        if stage != "ingest":
            dropped = corpus.sql(f"SELECT count(*) AS n FROM {stage} WHERE NOT keep").to_pylist()[0]["n"] if row["reasons"] else 0
            assert dropped == row["removed"], stage
    # Cumulative, in pipeline order: heuristics, exact_dedup, minhash, then semdedup.
    expected, conditions = [], []
    for stage in ("heuristics", "exact_dedup", "minhash", "semdedup"):
        conditions.append(f"coalesce({stage}.keep, true)")
        expected.append(corpus.sql(f"SELECT count(*) AS n FROM corpus WHERE {' AND '.join(conditions)}").to_pylist()[0]["n"])
        assert funnel[stage]["passing_so_far"] == expected[-1], stage
    assert expected == sorted(expected, reverse=True) and expected[-1] < funnel["ingest"]["rows_out"]


def test_ingest_into_a_corpus_with_documents_refuses_unless_told_to_replace(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": "the first input's only document"}])
    write_jsonl(tmp_path / "b.jsonl", [{"id": "b", "text": "the second input's only document"}])
    corpus_dir = str(tmp_path / "c")

    def ingest(*args):
        return subprocess.run([*CURATE, "-q", "ingest", *args, "--corpus", corpus_dir, "--workers", "1"],
                              capture_output=True, text=True, timeout=300)

    assert ingest(str(tmp_path / "a.jsonl")).returncode == 0
    run(corpus_dir, ExactDedupConfig())
    refused = ingest(str(tmp_path / "b.jsonl"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--append" in refused.stderr and "--replace" in refused.stderr
    corpus = Corpus.open(corpus_dir)
    assert corpus.sql("SELECT id FROM docs").to_pylist() == [{"id": "a"}] and corpus.stage("exact_dedup")
    assert "skipped" in ingest(str(tmp_path / "a.jsonl")).stdout  # the same inputs again: nothing to do
    replaced = ingest(str(tmp_path / "b.jsonl"), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    corpus = Corpus.open(corpus_dir)
    assert corpus.sql("SELECT id FROM docs").to_pylist() == [{"id": "b"}]
    assert corpus.stage("exact_dedup") is None and not corpus.attrs_stages()  # built on a's documents


def _attrs(corpus: Corpus, table: str) -> list[dict]:
    return corpus.sql(f"SELECT * FROM {table} ORDER BY id").to_pylist()


def test_an_append_adds_new_parts_and_the_map_stages_redo_only_those(tmp_path):
    texts = [t for _, t in stdlib_texts(60)]
    first = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts[:40])]
    # Next week's crawl: new documents, a copy and a near copy of old ones, and an id already used.
    second = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts[40:], start=40)]
    second += [{"id": "copy", "text": texts[3]}, {"id": "near", "text": texts[5].replace("def ", "def  ", 3) + " x"},
               {"id": "d7", "text": "an id the corpus has already, with text of its own"}]
    write_jsonl(tmp_path / "a.jsonl", first)
    write_jsonl(tmp_path / "b.jsonl", second)
    stages = (ScoreConfig(scorer="heuristics"), ExactDedupConfig(), MinhashConfig(threshold=0.7), EmbedConfig())
    appended, whole = str(tmp_path / "appended"), str(tmp_path / "whole")

    run(appended, IngestConfig(inputs=[InputSpec(str(tmp_path / "a.jsonl"))], shard_size=10))
    for config in stages:
        run(appended, config)
    # exact_dedup's attrs are written by its global step, over the whole corpus; its per-part hashes are kept.
    kept = ("attrs/heuristics", "models/exact_dedup/hashes", "embeddings", "models/minhash/signatures")
    before = {table: [os.stat(Corpus.open(appended).part_path(table, f"part-0000{i}")).st_ino for i in range(4)]
              for table in kept}
    added = run(appended, IngestConfig(inputs=[InputSpec(str(tmp_path / "b.jsonl"))], shard_size=10, mode="append"))
    assert (added.rows_in, added.rows_out) == (63, 62) and added.details["rejects"] == {"duplicate_id": 1}
    again = run(appended, IngestConfig(inputs=[InputSpec(str(tmp_path / "b.jsonl"))], shard_size=10, mode="append"))
    assert again.skipped and again.rows_out == 62
    first_ingest = run(appended, IngestConfig(inputs=[InputSpec(str(tmp_path / "a.jsonl"))], shard_size=10))
    assert first_ingest.skipped  # a pipeline that ingested a.jsonl reruns over the appended corpus
    records = [run(appended, config) for config in stages]
    assert all(record.rows_in == 62 and not record.skipped for record in records)

    corpus = Corpus.open(appended)
    assert corpus.parts("docs") == [f"part-0000{i}" for i in range(7)]  # 40 docs, then 22 (3 parts of 10)
    for table in kept:  # the old parts' outputs are the same files: linked back, not made again
        assert [os.stat(corpus.part_path(table, f"part-0000{i}")).st_ino for i in range(4)] == before[table], table
    assert checksums.verify(corpus) == []  # the checksums carried over for linked parts hold

    # What the append made equals what one ingest of both inputs and a run of each stage make.
    run(whole, IngestConfig(inputs=[InputSpec(str(tmp_path / "a.jsonl")), InputSpec(str(tmp_path / "b.jsonl"))],
                            shard_size=10))
    for config in stages[:3]:
        run(whole, config)
    other = Corpus.open(whole)
    assert corpus.sql("SELECT id, text FROM docs").to_pylist() == other.sql("SELECT id, text FROM docs").to_pylist()
    for table in ("heuristics", "exact_dedup", "minhash"):
        assert _attrs(corpus, table) == _attrs(other, table), table
    assert corpus.sql("SELECT id FROM exact_dedup WHERE NOT keep").to_pylist() == [{"id": "copy"}]
    assert {"id": "near"} in corpus.sql("SELECT id FROM minhash WHERE NOT keep").to_pylist()
    embedded = pq.read_table(corpus.path("embeddings")).column("id").to_pylist()
    assert embedded == corpus.sql("SELECT id FROM docs").column("id").to_pylist()  # row-aligned, old parts and new


KILLED_PUBLISH = """
import os, signal, sys
from curation.corpus import Corpus

corpus = Corpus.open(sys.argv[1])
fs, renames = corpus.fs, int(sys.argv[2])
move = fs.mv
calls = []

def mv(*args, **kwargs):
    move(*args, **kwargs)
    calls.append(args)
    if len(calls) == renames:
        os.kill(os.getpid(), signal.SIGKILL)

fs.mv = mv
corpus.publish(sys.argv[3], "models/thing")
"""


@pytest.mark.parametrize("renames", [1, 2])
def test_a_publish_killed_between_its_renames_leaves_the_old_folder_or_the_new(tmp_path, renames):
    write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "a document"}])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    for version, folder in (("old", tmp_path / "c" / "models" / "thing"), ("new", tmp_path / "staged")):
        folder.mkdir(parents=True)
        for name in ("a", "b"):
            (folder / name).write_text(version)
    script = tmp_path / "publish.py"
    script.write_text(KILLED_PUBLISH)
    killed = subprocess.run([sys.executable, str(script), corpus_dir, str(renames), str(tmp_path / "staged")], timeout=120)
    assert killed.returncode == -9  # killed after the old folder went aside, or after the new came in
    Corpus.open(corpus_dir)  # opening recovers
    folder = tmp_path / "c" / "models" / "thing"
    contents = {path.name: path.read_text() for path in folder.iterdir()}
    assert contents == {"a": "old", "b": "old"} if renames == 1 else contents == {"a": "new", "b": "new"}
    assert [p.name for p in (tmp_path / "c" / "models").iterdir()] == ["thing"]  # nothing left aside
