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
