"""Exact dedup: planted copies are found exactly, normalisation behaves as documented."""

from __future__ import annotations

import pytest
from conftest import stdlib_texts, write_jsonl

from curation import Corpus
from curation.exact_dedup import ExactDedupConfig
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run


@pytest.fixture
def planted(tmp_path):
    """120 real texts in two sources, with planted copies of three kinds."""
    texts = stdlib_texts(120)
    originals = [{"id": f"doc-{i}", "text": t} for i, (_, t) in enumerate(texts)]
    exact = [{"id": f"exact-{i}", "text": texts[i][1]} for i in range(0, 30, 3)]
    spaced = [{"id": f"spaced-{i}", "text": "  " + texts[i][1].replace("\n", " \n\t ", 5) + "\n\n"} for i in range(1, 30, 3)]
    upper = [{"id": f"upper-{i}", "text": texts[i][1].upper()} for i in range(2, 30, 3)]
    write_jsonl(tmp_path / "a.jsonl", originals[:60] + exact[:5] + spaced[:5] + upper[:5])
    write_jsonl(tmp_path / "b.jsonl", originals[60:] + exact[5:] + spaced[5:] + upper[5:])
    specs = [InputSpec(str(tmp_path / "a.jsonl")), InputSpec(str(tmp_path / "b.jsonl"))]
    run(str(tmp_path / "c"), IngestConfig(inputs=specs, shard_size=25))
    return str(tmp_path / "c")


def removed(corpus_dir) -> dict[str, str]:
    rows = Corpus.open(corpus_dir).sql("SELECT id, duplicate_of FROM exact_dedup WHERE NOT keep").to_pylist()
    return {r["id"]: r["duplicate_of"] for r in rows}


def test_whitespace_normalisation_finds_exact_and_spacing_copies_not_case(planted):
    record = run(planted, ExactDedupConfig(normalize="whitespace"))
    expected = {f"exact-{i}": f"doc-{i}" for i in range(0, 30, 3)} | {f"spaced-{i}": f"doc-{i}" for i in range(1, 30, 3)}
    assert removed(planted) == expected
    assert (record.rows_in, record.rows_out) == (150, 130)


def test_none_keeps_spacing_variants_and_lower_catches_case(planted):
    run(planted, ExactDedupConfig(normalize="none"))
    assert set(removed(planted)) == {f"exact-{i}" for i in range(0, 30, 3)}
    run(planted, ExactDedupConfig(normalize="lower"))
    assert len(removed(planted)) == 30 and all(v.startswith("doc-") for v in removed(planted).values())


def test_first_occurrence_in_corpus_order_is_kept_and_scope_source_stays_within_sources(tmp_path):
    text = "the same paragraph, word for word, in three places"
    write_jsonl(tmp_path / "one.jsonl", [{"id": "one-a", "text": text}, {"id": "one-b", "text": text}])
    write_jsonl(tmp_path / "two.jsonl", [{"id": "two-a", "text": text}])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "one.jsonl")), InputSpec(str(tmp_path / "two.jsonl"))]))
    run(str(tmp_path / "c"), ExactDedupConfig(scope="global"))
    assert removed(str(tmp_path / "c")) == {"one-b": "one-a", "two-a": "one-a"}
    run(str(tmp_path / "c"), ExactDedupConfig(scope="source"))
    assert removed(str(tmp_path / "c")) == {"one-b": "one-a"}


def test_attrs_are_row_aligned_with_docs_and_reruns_are_skipped(planted):
    first = run(planted, ExactDedupConfig())
    corpus = Corpus.open(planted)
    for part in corpus.parts("docs"):
        assert corpus.read_part("attrs/exact_dedup", part, ["id"])["id"].equals(corpus.read_part("docs", part, ["id"])["id"])
    assert run(planted, ExactDedupConfig()).finished_at == first.finished_at


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="scope"):
        ExactDedupConfig(scope="everywhere")


def test_flow_on_dask_matches_plain_python(planted, tmp_path, dask_address):
    from flows.stage import run_flow

    run(planted, ExactDedupConfig())
    plain = removed(planted)
    Corpus.open(planted).forget_stages(["exact_dedup"])
    Corpus.open(planted).remove_table("attrs")
    run_flow(planted, ExactDedupConfig(), dask_address)
    assert removed(planted) == plain and len(plain) == 20


def _reference(corpus_dir: str, normalize: str, scope: str) -> list[dict]:
    """The single-node answer, in plain Python: a text seen before in corpus order (within its
    source for scope=source) is a duplicate of its first occurrence."""
    from curation.exact_dedup import text_hashes

    corpus, first, rows = Corpus.open(corpus_dir), {}, []
    for part in corpus.parts("docs"):
        docs = corpus.read_part("docs", part, ["id", "text", "source"])
        hashes = text_hashes(docs["text"].combine_chunks(), normalize).to_pylist()
        for id_, hash_, source in zip(docs["id"].to_pylist(), hashes, docs["source"].to_pylist(), strict=True):
            key = (hash_, source) if scope == "source" else hash_
            duplicate_of = first.setdefault(key, id_)
            duplicate_of = None if duplicate_of == id_ else duplicate_of
            rows.append({"id": id_, "hash": hash_, "duplicate_of": duplicate_of, "keep": duplicate_of is None,
                         "reason": None if duplicate_of is None else "duplicate"})
    return rows


def _attrs_bytes(corpus_dir: str) -> dict[str, bytes]:
    corpus = Corpus.open(corpus_dir)
    return {part: open(corpus.part_path("attrs/exact_dedup", part), "rb").read() for part in corpus.parts("docs")}


@pytest.mark.parametrize("scope", ["global", "source"])
def test_any_number_of_partitions_gives_the_single_node_answer_byte_for_byte(planted, scope):
    """150 documents in 6 parts, copies across parts and sources: one partition, 22 and 150 give
    the same attrs files, and their rows are the plain single-node answer."""
    outputs = []
    for partition_rows in (1_000_000, 7, 1):
        Corpus.open(planted).forget_stages(["exact_dedup"])
        record = run(planted, ExactDedupConfig(scope=scope, partition_rows=partition_rows))
        assert record.details["partitions"] == -(-150 // partition_rows)
        outputs.append(_attrs_bytes(planted))
    assert outputs[0] == outputs[1] == outputs[2]
    assert Corpus.open(planted).sql("SELECT * FROM exact_dedup").to_pylist() == _reference(planted, "whitespace", scope)
    # Half the copies are in the other file, so another source.
    assert len([row for row in _reference(planted, "whitespace", scope) if not row["keep"]]) == (20 if scope == "global" else 10)


def test_a_partition_task_reads_about_partition_rows_hashes(tmp_path):
    """2,000 documents with partition_rows=200: 10 partitions, none over twice its share."""
    import pyarrow.parquet as pq

    from curation.stage import in_this_process

    texts = stdlib_texts(100)
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": texts[i % 100][1] + f" {i % 1500}"} for i in range(2_000)])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=250))
    read = {}

    def recording(step, plan, items):
        if step.name == "find-repeats":
            for partition in items:
                read[partition] = sum(pq.read_metadata(path).num_rows
                                      for path in (tmp_path / "c").glob(f".staging/*/shuffled/{partition}/*.parquet"))
        yield from in_this_process(step, plan, items)

    record = run(str(tmp_path / "c"), ExactDedupConfig(partition_rows=200), recording)
    assert sorted(read) == list(range(10)) and sum(read.values()) == 2_000
    assert max(read.values()) <= 400
    assert record.rows_in - record.rows_out == 500  # i and i + 1500 share a text for i < 500
