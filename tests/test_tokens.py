"""The tokens stage: every document's ids equal a fresh tokenization of its text with the separator
after it, row-aligned with docs; exact counts replace the estimate in budgets; a tokenizer that
does not load, fails on a document or does not fit the dtype gives one line and exit 2; a SIGKILL
in the middle resumes to the same files."""

from __future__ import annotations

import itertools
import subprocess

import orjson
import pyarrow as pa
import pytest
from conftest import CURATE, kill_once_staged, stdlib_texts, write_jsonl
from tokenizers import Tokenizer, models, pre_tokenizers

from curation import Corpus
from curation.cli import main
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from curation.tokens import TokensConfig, load_tokenizer


def _corpus(directory, records: list[dict], shard_size: int = 100) -> str:
    write_jsonl(directory / "in.jsonl", records)
    run(str(directory / "c"), IngestConfig(inputs=[InputSpec(str(directory / "in.jsonl"))], shard_size=shard_size))
    return str(directory / "c")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    texts = itertools.chain(sources.fortunes(DEFAULT_DATA_DIR / "root"), stdlib_texts(60))
    records = [{"id": f"d{i}", "text": text[:4000]} for i, (_, text) in enumerate(itertools.islice(texts, 400))]
    records.append({"id": "unicode", "text": "naïve café — 東京 🚀 \u200b tabs\tand\nnewlines"})
    return _corpus(tmp_path_factory.mktemp("tokens"), records)


def _word_tokenizer(path, words: int, unknown: bool = True) -> str:
    vocab = {"[UNK]": 0, "</s>": 1} | {f"w{i}": i + 2 for i in range(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]" if unknown else None))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))
    return str(path)


def test_ids_are_a_fresh_tokenization_with_the_separator(corpus_dir):
    assert main(["tokens", corpus_dir, "--workers", "2"]) == 0
    corpus = Corpus.open(corpus_dir)
    gpt2 = load_tokenizer("gpt2")
    eos = gpt2.token_to_id("<|endoftext|>")
    assert corpus.parts("token_ids") == corpus.parts("docs") and len(corpus.parts("docs")) > 2
    for part in corpus.parts("docs"):
        docs = corpus.read_part("docs", part, ["id", "text"])
        ids = corpus.read_part("token_ids", part)
        counts = corpus.read_part("attrs/tokens", part)
        assert ids["id"].equals(docs["id"]) and counts["id"].equals(docs["id"])
        assert ids.schema.field("ids").type.value_type == pa.uint16()
        for text, row, count in zip(docs["text"].to_pylist(), ids["ids"].to_pylist(), counts["tokens"].to_pylist(), strict=True):
            assert row == gpt2.encode(text).ids + [eos] and count == len(row)
    record = corpus.stage("tokens")
    assert record.details["tokens"] == corpus.sql("SELECT sum(tokens.tokens) AS t FROM corpus")["t"][0].as_py()
    assert record.details["dtype"] == "uint16" and record.details["separator"] == eos


def test_a_budget_counts_the_tokens_once_tokenized(corpus_dir):
    assert main(["mix", "m", corpus_dir, "--tokens", "20000", "--domain", "'all'"]) == 0
    manifest = orjson.loads(Corpus.open(corpus_dir).fs.cat_file(f"{corpus_dir}/mixtures/m/manifest.json"))
    exact = Corpus.open(corpus_dir).sql("SELECT sum(tokens.tokens) AS t FROM corpus")["t"][0].as_py()
    assert manifest["tokenizer"] == "gpt2" and manifest["domains"]["all"]["tokens"] == exact


def test_another_tokenizer_separator_and_int32_for_a_large_vocabulary(tmp_path):
    corpus_dir = _corpus(tmp_path, [{"id": f"d{i}", "text": f"w{i} w{70_000 - i} nonsense"} for i in range(50)])
    tokenizer = _word_tokenizer(tmp_path / "big.json", 70_000)
    run(corpus_dir, TokensConfig(tokenizer=tokenizer, separator="</s>"))
    ids = Corpus.open(corpus_dir).read_part("token_ids", "part-00000")
    assert ids.schema.field("ids").type.value_type == pa.int32()
    assert ids["ids"].to_pylist()[3] == [3 + 2, 70_000 - 3 + 2, 0, 1]
    run(corpus_dir, TokensConfig(tokenizer=tokenizer, separator="none"))
    assert Corpus.open(corpus_dir).read_part("token_ids", "part-00000")["ids"].to_pylist()[3] == [5, 69_999, 0]


@pytest.mark.parametrize("trouble, message", [
    ("oversized", "has 70,002 tokens, more than uint16 holds (65,536); give --dtype int32 (or auto)"),
    ("unloadable", "does not load"),
    ("failing", "fails on document d1: WordLevel error: Missing [UNK] token from the vocabulary"),
    ("separator", "separator '<sep>' is not a token of tokenizer"),
])
def test_tokenizer_trouble_is_one_line_and_exit_2(tmp_path, trouble, message):
    corpus_dir = _corpus(tmp_path, [{"id": "d0", "text": "w1 w2"}, {"id": "d1", "text": "w1 unknown"}])
    arguments = {"oversized": ["--tokenizer", _word_tokenizer(tmp_path / "big.json", 70_000), "--dtype", "uint16"],
                 "unloadable": ["--tokenizer", str(tmp_path / "broken.json")],
                 "failing": ["--tokenizer", _word_tokenizer(tmp_path / "strict.json", 10, unknown=False), "--separator", "</s>"],
                 "separator": ["--tokenizer", _word_tokenizer(tmp_path / "t.json", 10), "--separator", "<sep>"]}[trouble]
    (tmp_path / "broken.json").write_text('{"version": "1.0", "model": {"type": "nonsense"}}')
    result = subprocess.run([*CURATE, "tokens", corpus_dir, "--workers", "1", *arguments],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert Corpus.open(corpus_dir).stage("tokens") is None


def test_sigkill_mid_tokenization_resumes_to_the_same_files(tmp_path):
    texts = [t for _, t in stdlib_texts(40)]
    killed = _corpus(tmp_path, [{"id": f"d{i}", "text": texts[i % len(texts)][: 200 + i % 3000]} for i in range(6000)],
                     shard_size=300)
    command = [*CURATE, "tokens", killed, "--workers", "1"]
    kill_once_staged(command, tmp_path / "c" / ".staging", "tokens-*/finished/tokenize-part/*", count=3)
    assert Corpus.open(killed).stage("tokens") is None, "killed too late: the stage had finished"
    assert subprocess.run(command, capture_output=True, text=True, timeout=300).returncode == 0
    corpus = Corpus.open(killed)
    run(str(tmp_path / "again"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=300))
    run(str(tmp_path / "again"), TokensConfig())
    reference = Corpus.open(str(tmp_path / "again"))
    for table in ("token_ids", "attrs/tokens"):
        assert corpus.parts(table) == reference.parts(table)
        for part in reference.parts(table):
            assert corpus.fs.cat_file(corpus.part_path(table, part)) == \
                reference.fs.cat_file(reference.part_path(table, part)), (table, part)
    assert not (tmp_path / "c" / ".staging").exists()
