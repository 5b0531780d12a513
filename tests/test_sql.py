"""SQL over a corpus: the views, read-only enforcement, output formats, canned reports."""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest
from conftest import CURATE, stdlib_texts, write_jsonl

from curation import Corpus
from curation.catalog import report_names, view_definitions
from curation.cli import main
from curation.errors import UserError
from curation.exact_dedup import ExactDedupConfig
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.minhash.stage import MinhashConfig
from curation.stage import run


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sql")
    texts = stdlib_texts(20)
    write_jsonl(root / "code.jsonl", [{"text": t} for _, t in texts] + [{"text": texts[0][1]}, {"text": ""}])
    run(str(root / "corpus"), IngestConfig(inputs=[InputSpec(str(root / "code.jsonl"), domain="code")]))
    run(str(root / "corpus"), ExactDedupConfig())
    run(str(root / "corpus"), MinhashConfig())
    return str(root / "corpus")


def test_views_and_the_wide_corpus_view(corpus_dir):
    corpus = Corpus.open(corpus_dir)
    assert corpus.sql("SELECT count(*) AS n FROM docs").to_pylist() == [{"n": 21}]
    assert corpus.sql("SELECT reason FROM rejects").to_pylist() == [{"reason": "empty_text"}]
    assert [r["name"] for r in corpus.sql("SELECT name FROM stages").to_pylist()] == ["ingest", "exact_dedup", "minhash"]
    kept = corpus.sql("SELECT count(*) AS n FROM corpus WHERE exact_dedup.keep").to_pylist()
    assert kept == [{"n": 20}]
    by_domain = corpus.sql("SELECT source, domain, count(*) AS n FROM docs GROUP BY ALL").to_pylist()
    assert by_domain == [{"source": "code", "domain": "code", "n": 21}]


def test_attrs_older_than_the_documents_join_on_id(corpus_dir, tmp_path):
    """Fresh attrs join docs by position; attrs of a stage made from other documents (it recorded
    another ingest output) join on id. Both give the same rows here, where the ids are the same."""
    import dataclasses
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(corpus_dir, copy)
    corpus = Corpus.open(str(copy))
    query = "SELECT id, exact_dedup.keep AS keep, minhash.id AS mid FROM corpus ORDER BY id"
    positional = corpus.sql(query)
    assert "POSITIONAL JOIN" in view_definitions(corpus)
    corpus.record_stage(dataclasses.replace(corpus.stage("exact_dedup"), inputs={"ingest": "an-older-ingest"}))
    definitions = view_definitions(corpus)
    assert 'LEFT JOIN "exact_dedup"' in definitions and 'POSITIONAL JOIN "minhash"' in definitions
    assert corpus.sql(query).equals(positional)
    assert positional["id"].to_pylist() == positional["mid"].to_pylist()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO docs VALUES ('x', 'y', 'z', NULL, NULL, '{}')",
        "COPY (SELECT * FROM docs) TO '{out}' (FORMAT csv)",
        "CREATE TABLE stolen AS SELECT * FROM docs",
        "DELETE FROM docs",
        "SELECT 1; SELECT 2",
    ],
)
def test_sql_cannot_modify_anything(corpus_dir, tmp_path, statement):
    out = tmp_path / "written.csv"
    with pytest.raises(UserError):
        Corpus.open(corpus_dir).sql(statement.replace("{out}", str(out)))
    assert not out.exists()


def test_cli_sql_refuses_copy_with_exit_2_and_one_line(corpus_dir, tmp_path):
    out = tmp_path / "x.csv"
    result = subprocess.run([*CURATE, "sql", corpus_dir, f"COPY docs TO '{out}'"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "read-only" in result.stderr
    assert not out.exists()


def test_output_formats(corpus_dir, tmp_path, capsysbinary):
    query = "SELECT id, length(text) AS chars FROM docs ORDER BY id LIMIT 3"
    assert main(["sql", corpus_dir, query, "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsysbinary.readouterr().out.decode().splitlines()]
    assert len(rows) == 3 and set(rows[0]) == {"id", "chars"}
    assert main(["sql", corpus_dir, query, "--format", "csv", "--output", str(tmp_path / "o.csv")]) == 0
    assert (tmp_path / "o.csv").read_text().splitlines()[0] == '"id","chars"'
    assert main(["sql", corpus_dir, query, "--format", "parquet", "--output", str(tmp_path / "o.parquet")]) == 0
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 3
    assert main(["sql", corpus_dir, query]) == 0
    assert b"3 rows" in capsysbinary.readouterr().out


def test_every_canned_report_runs(corpus_dir):
    assert {"size", "rejects", "funnel"} <= set(report_names())
    needs_embeddings = {"cluster_sizes": "clusters", "semdedup": "semdedup"}  # tested in test_embed_cluster.py
    for name in report_names():
        if name in needs_embeddings:
            with pytest.raises(UserError, match=f"no view named {needs_embeddings[name]} "):
                Corpus.open(corpus_dir).sql(open_report(name))
        else:
            assert main(["report", name, corpus_dir, "--format", "json"]) == 0
    funnel = Corpus.open(corpus_dir).sql(open_report("funnel")).to_pylist()
    assert [(r["stage"], r["rows_in"], r["rows_out"]) for r in funnel] == [
        ("ingest", 22, 21), ("exact_dedup", 21, 20), ("minhash", 21, 20)]
    clusters = Corpus.open(corpus_dir).sql(open_report("fuzzy_clusters")).to_pylist()
    assert [(c["size"], c["min_similarity"]) for c in clusters] == [(2, 1.0)]


def open_report(name):
    from curation.catalog import report_sql

    return report_sql(name)
