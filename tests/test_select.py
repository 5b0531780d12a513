"""SQL-driven selection: a condition, then a policy (threshold, top-k, temperature sampling,
uniform) with a budget in documents, characters or tokens, all inside DuckDB; reproducible for a
seed; bad requests are one line and exit 2."""

from __future__ import annotations

import orjson
import pytest
from conftest import stdlib_texts, write_jsonl

from curation import Corpus
from curation.cli import main
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from curation.tokens import TokensConfig


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("select")
    texts = [t[: 200 + 37 * i] for i, (_, t) in enumerate(stdlib_texts(400, min_chars=2000))]
    write_jsonl(tmp / "in.jsonl", [{"id": f"d{i:03d}", "text": t} for i, t in enumerate(texts)])
    run(str(tmp / "c"), IngestConfig(inputs=[InputSpec(str(tmp / "in.jsonl"), domain="code")]))
    return str(tmp / "c")


def _chosen(corpus_dir: str, name: str) -> list[dict]:
    return Corpus.open(corpus_dir).sql(
        f"SELECT d.id, length(d.text) AS chars, s.repeats, s.why FROM docs d JOIN selection_{name} s USING (id)").to_pylist()


def test_threshold_top_k_and_budgets(corpus_dir):
    corpus = Corpus.open(corpus_dir)
    assert main(["select", "long", corpus_dir, "--where", "length(text) > 5000"]) == 0
    assert len(_chosen(corpus_dir, "long")) == corpus.sql("SELECT count(*) AS n FROM docs WHERE length(text) > 5000")["n"][0].as_py()

    assert main(["select", "top", corpus_dir, "--top", "length(text)", "--budget", "50"]) == 0
    chosen = _chosen(corpus_dir, "top")
    lengths = sorted(corpus.sql("SELECT length(text) AS n FROM docs")["n"].to_pylist(), reverse=True)
    assert sorted((r["chars"] for r in chosen), reverse=True) == lengths[:50]
    assert chosen[0]["why"].startswith("top by length(text) = ")

    # 30% of the characters of the short half: the budget is met by the last document taken.
    assert main(["select", "share", corpus_dir, "--where", "length(text) < 8000", "--top", "length(text)",
                 "--percent", "30", "--unit", "chars"]) == 0
    pool = sum(n for n in lengths if n < 8000)
    taken = sum(r["chars"] for r in _chosen(corpus_dir, "share"))
    assert 0.3 * pool <= taken < 0.3 * pool + 8000
    definition = orjson.loads((Corpus.open(corpus_dir).fs.cat_file(corpus.path("selections", "share", "selection.json"))))
    assert definition["percent"] == 30 and definition["unit"] == "chars" and definition["where"] == "length(text) < 8000"


def test_temperature_moves_between_uniform_and_top(corpus_dir):
    means = {}
    for temperature in ("0.0001", "1", "1000000"):
        assert main(["select", "t", corpus_dir, "--temperature", temperature, "--by", "length(text) / 1000",
                     "--budget", "100"]) == 0
        chosen = _chosen(corpus_dir, "t")
        assert len(chosen) == 100 and all(r["why"].startswith("sampled at temperature") for r in chosen)
        means[temperature] = sum(r["chars"] for r in chosen) / 100
    pool = Corpus.open(corpus_dir).sql("SELECT avg(length(text)) AS m FROM docs")["m"][0].as_py()
    top = _top_mean(corpus_dir, 100)
    assert abs(means["0.0001"] - top) < 1e-6  # a tiny temperature is top-k
    assert abs(means["1000000"] - pool) < 0.15 * pool  # a huge one is uniform
    assert means["1000000"] < means["1"] < means["0.0001"]


def _top_mean(corpus_dir: str, k: int) -> float:
    return Corpus.open(corpus_dir).sql(f"SELECT avg(n) AS m FROM (SELECT length(text) AS n FROM docs ORDER BY n DESC LIMIT {k})")["m"][0].as_py()


def test_selections_are_byte_identical_for_a_seed(corpus_dir, tmp_path):
    corpus = Corpus.open(corpus_dir)
    part = corpus.path("selections", "r", "part-00000.parquet")
    runs = []
    for seed in ("1", "1", "2"):
        assert main(["select", "r", corpus_dir, "--random", "--budget", "40", "--seed", seed]) == 0
        runs.append(corpus.fs.cat_file(part))
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_tokens_come_from_a_real_tokenizer_when_counted(corpus_dir):
    assert main(["select", "tok", corpus_dir, "--random", "--budget", "5000", "--unit", "tokens"]) == 0
    corpus = Corpus.open(corpus_dir)
    definition = orjson.loads(corpus.fs.cat_file(corpus.path("selections", "tok", "selection.json")))
    assert definition["counted_with"] == "estimate: characters / 4"
    run(corpus_dir, TokensConfig())
    assert main(["select", "tok", corpus_dir, "--random", "--budget", "5000", "--unit", "tokens"]) == 0
    definition = orjson.loads(corpus.fs.cat_file(corpus.path("selections", "tok", "selection.json")))
    taken = corpus.sql("SELECT sum(tokens.tokens) AS t FROM corpus JOIN selection_tok USING (id)")["t"][0].as_py()
    assert definition["counted_with"] == "gpt2" and 5000 <= taken < 5000 + 4000


@pytest.mark.parametrize("arguments", [
    ["--where", "no_such_column > 1"],
    ["--where", "length(text) >"],
    ["--top", "length(text)", "--random", "--budget", "5"],
    ["--budget", "5"],
    ["--top", "length(text)"],
    ["--top", "length(text)", "--budget", "5", "--percent", "5"],
    ["--random", "--percent", "150"],
    ["--temperature", "1", "--budget", "5"],
    ["--temperature", "-1", "--by", "1", "--budget", "5"],
    ["--where", "false"],
])
def test_bad_requests_are_one_line(corpus_dir, arguments, capsys):
    assert main(["select", "bad", corpus_dir, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "\n" not in error and "Traceback" not in error
