"""Ingest: every input format, every kind of bad input quarantined, counts that add up."""

from __future__ import annotations

import bz2
import gzip
import lzma
import unicodedata

import datasets
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import stdlib_texts, write_jsonl, write_jsonl_gz

from curation import Corpus
from curation.errors import DataRejected, UserError
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run


def counts(corpus_dir) -> tuple[int, int]:
    corpus = Corpus.open(corpus_dir)
    row = corpus.sql("SELECT (SELECT count(*) FROM docs) AS docs, (SELECT count(*) FROM rejects) AS rejects").to_pylist()[0]
    return row["docs"], row["rejects"]


def reasons_in(corpus_dir) -> dict[str, int]:
    rows = Corpus.open(corpus_dir).sql("SELECT reason, count(*) AS n FROM rejects GROUP BY reason").to_pylist()
    return {r["reason"]: r["n"] for r in rows}


def test_every_bad_input_kind_lands_in_rejects_with_its_reason(tmp_path):
    good = "A real sentence that is perfectly fine to keep."
    lines = [
        {"id": "ok-1", "text": good},
        b"",  # blank line: not a record
        b'{"id": "broken", "text": "no closing brace"',
        b"[1, 2, 3]",
        b'{"id": "bad-utf8", "text": "caf\xe9 latin-1 byte"}',
        b'{"id": "surrogate", "text": "lone \\ud800 surrogate"}',
        {"id": "no-text"},
        {"id": "null-text", "text": None},
        {"id": "number-text", "text": 42},
        {"id": "empty", "text": ""},
        {"id": "blank", "text": " \n\t "},
        {"id": "huge", "text": "x" * 5000},
        {"id": ["not", "an", "id"], "text": good},
        {"id": "ok-1", "text": "the same id again in this file"},
        {"id": "ok-2", "text": good},
    ]
    write_jsonl(tmp_path / "mixed.jsonl", lines)
    write_jsonl(tmp_path / "later.jsonl", [{"id": "ok-2", "text": "an id from the first file"}, {"id": "ok-3", "text": good}])

    # A gzip file cut in the middle: the records before the damage are kept.
    payload = b"".join(b'{"id": "gz-%d", "text": "record number %d of a long file"}\n' % (i, i) for i in range(2000))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(payload)[:-300])
    zst = zstandard.ZstdCompressor().compress(payload.replace(b"gz-", b"zst-"))
    (tmp_path / "cut.jsonl.zst").write_bytes(zst[: len(zst) // 2])
    pq.write_table(pa.table({"body": ["text under the wrong column"]}), tmp_path / "nocolumn.parquet")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "latin1.txt").write_bytes("r\xe9sum\xe9".encode("latin-1"))
    (tmp_path / "notes" / "fine.md").write_text("# A heading\n\nSome markdown text.")

    specs = [InputSpec(str(tmp_path / name)) for name in ("mixed.jsonl", "later.jsonl", "cut.jsonl.gz", "cut.jsonl.zst", "nocolumn.parquet", "notes")]
    summary = run(str(tmp_path / "corpus"), IngestConfig(inputs=specs, shard_size=500, max_doc_bytes=4000))

    reasons = reasons_in(tmp_path / "corpus")
    assert reasons == {
        "malformed_json": 1,
        "not_an_object": 1,
        "invalid_utf8": 3,  # the latin-1 byte in JSON, the lone surrogate, the latin-1 .txt file
        "missing_text": 1,
        "null_text": 1,
        "non_string_text": 1,
        "empty_text": 2,
        "too_large": 1,
        "bad_id": 1,
        "duplicate_id": 2,  # inside mixed.jsonl, and ok-2 again in later.jsonl
        "unreadable_file": 2,  # the cut gzip and the cut zstd file
        "missing_text_column": 1,
    }
    docs, rejects = counts(tmp_path / "corpus")
    assert summary.rows_out == docs and summary.rows_in - summary.rows_out == rejects
    assert summary.rows_in == docs + rejects
    assert 0 < docs - 5 < 4000  # the good records plus what the cut files held before the damage

    corpus = Corpus.open(str(tmp_path / "corpus"))
    unique = corpus.sql("SELECT count(DISTINCT id) = count(*) AS ok FROM docs").to_pylist()[0]["ok"]
    assert unique
    first = corpus.sql("SELECT text FROM docs WHERE id = 'ok-2'").to_pylist()
    assert first == [{"text": good}]  # the first occurrence of a duplicated id wins
    rejected = corpus.sql("SELECT file, position, detail, excerpt FROM rejects WHERE reason = 'malformed_json'").to_pylist()[0]
    assert rejected["file"].endswith("mixed.jsonl") and rejected["position"] == 3
    assert "no closing brace" in rejected["excerpt"]
    cut = corpus.sql("SELECT detail FROM rejects WHERE reason = 'unreadable_file' AND file LIKE '%.gz'").to_pylist()[0]
    assert "EOFError" in cut["detail"]


def test_every_format_is_read_with_stable_ids_and_nfc_text(tmp_path):
    texts = stdlib_texts(12)
    decomposed = unicodedata.normalize("NFD", "café naïve résumé")
    write_jsonl(tmp_path / "plain.jsonl", [{"id": f"p{i}", "text": t, "extra": i} for i, (_, t) in enumerate(texts[:3])] + [{"text": decomposed}])
    write_jsonl_gz(tmp_path / "gz.jsonl.gz", [{"text": t} for _, t in texts[3:5]])
    write_jsonl(tmp_path / "zst.jsonl.zst", [{"text": t} for _, t in texts[5:7]], zstandard.open)
    pq.write_table(pa.table({"id": ["q1"], "content": [texts[7][1]]}), tmp_path / "table.parquet")
    datasets.Dataset.from_dict({"text": [t for _, t in texts[8:10]], "lang": ["py", "py"]}).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "table.csv").write_text('id,text\nc1,"a csv text, with a comma"\n', encoding="utf-8")
    (tmp_path / "files" / "sub").mkdir(parents=True)
    (tmp_path / "files" / "one.txt").write_text(texts[10][1])
    (tmp_path / "files" / "sub" / "two.md").write_text(texts[11][1])
    (tmp_path / "files" / "ignored.bin").write_bytes(b"\x00\x01")

    specs = [
        InputSpec(str(tmp_path / "plain.jsonl"), domain="code"),
        InputSpec(str(tmp_path / "gz.jsonl.gz")),
        InputSpec(str(tmp_path / "zst.jsonl.zst"), source="zsource"),
        InputSpec(str(tmp_path / "table.parquet"), text_field="content"),
        InputSpec(str(tmp_path / "saved")),
        InputSpec(str(tmp_path / "table.csv")),
        InputSpec(str(tmp_path / "files")),
    ]
    summary = run(str(tmp_path / "corpus"), IngestConfig(inputs=specs))
    assert summary.rows_in == summary.rows_out == 14

    corpus = Corpus.open(str(tmp_path / "corpus"))
    rows = {r["id"]: r for r in corpus.sql("SELECT * FROM docs").to_pylist()}
    assert set(rows) == {
        "p0", "p1", "p2", "plain/plain.jsonl:4",
        "gz/gz.jsonl.gz:1", "gz/gz.jsonl.gz:2",
        "zsource/zst.jsonl.zst:1", "zsource/zst.jsonl.zst:2",
        "q1", "saved/saved:1", "saved/saved:2", "c1",
        "files/one.txt", "files/sub/two.md",  # files/ignored.bin is not a supported extension
    }
    assert rows["plain/plain.jsonl:4"]["text"] == unicodedata.normalize("NFC", decomposed)
    assert rows["p1"]["meta"] == '{"extra":1}' and rows["p1"]["domain"] == "code"
    assert rows["saved/saved:1"]["meta"] == '{"lang":"py"}'
    assert rows["zsource/zst.jsonl.zst:1"]["source"] == "zsource"
    assert rows["c1"]["text"] == "a csv text, with a comma"
    assert rows["files/one.txt"]["text"] == texts[10][1]

    again = run(str(tmp_path / "corpus2"), IngestConfig(inputs=specs))
    ids2 = {r["id"] for r in Corpus.open(str(tmp_path / "corpus2")).sql("SELECT id FROM docs").to_pylist()}
    assert again.rows_out == summary.rows_out and ids2 == set(rows)


def test_rerun_is_skipped_and_changed_options_start_over_when_told(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for _, t in stdlib_texts(30)])
    specs = [InputSpec(str(tmp_path / "in.jsonl"))]
    first = run(str(tmp_path / "c"), IngestConfig(inputs=specs, shard_size=10))
    assert Corpus.open(str(tmp_path / "c")).parts("docs") == ["part-00000", "part-00001", "part-00002"]
    assert run(str(tmp_path / "c"), IngestConfig(inputs=specs, shard_size=10)).skipped
    with pytest.raises(UserError, match="already has 30 documents.*--replace"):
        run(str(tmp_path / "c"), IngestConfig(inputs=specs, shard_size=7))
    assert len(Corpus.open(str(tmp_path / "c")).parts("docs")) == 3  # refused: nothing changed
    redone = run(str(tmp_path / "c"), IngestConfig(inputs=specs, shard_size=7, mode="replace"))
    assert not redone.skipped and redone.rows_out == first.rows_out == 30
    assert len(Corpus.open(str(tmp_path / "c")).parts("docs")) == 5


def test_max_reject_fraction_turns_a_flood_of_rejects_into_a_failure(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "fine"}] + [{"text": ""}] * 3)
    with pytest.raises(DataRejected, match="75.0%"):
        run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], max_reject_fraction=0.5))
    docs, rejects = counts(tmp_path / "c")  # nothing is lost: the corpus is still written
    assert (docs, rejects) == (1, 3)


def test_flow_on_a_dask_cluster_gives_the_same_corpus_as_plain_python(tmp_path, dask_address):
    from flows.stage import run_flow

    texts = stdlib_texts(40)
    for k in range(4):
        write_jsonl(tmp_path / f"in{k}.jsonl", [{"text": t} for _, t in texts[k * 10 : (k + 1) * 10]] + [b"{oops"])
    specs = [InputSpec(str(tmp_path / f"in{k}.jsonl")) for k in range(4)]
    run_flow(str(tmp_path / "flow"), IngestConfig(inputs=specs, shard_size=4), dask_address)
    run(str(tmp_path / "plain"), IngestConfig(inputs=specs, shard_size=4))
    flow, plain = Corpus.open(str(tmp_path / "flow")), Corpus.open(str(tmp_path / "plain"))
    assert flow.parts("docs") == plain.parts("docs")
    for part in plain.parts("docs"):
        assert flow.read_part("docs", part).equals(plain.read_part("docs", part))
    assert counts(tmp_path / "flow") == (40, 4)


def test_a_leading_byte_order_mark_is_not_data_but_one_elsewhere_is(tmp_path):
    lines = [orjson.dumps({"id": "first", "text": "written by a Windows tool"}),
             orjson.dumps({"id": "second", "text": "\ufeffa BOM inside the text is the text's"})]
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "bom.jsonl"))]))
    rows = Corpus.open(str(tmp_path / "c")).sql("SELECT id, text FROM docs").to_pylist()
    assert rows == [{"id": "first", "text": "written by a Windows tool"},
                    {"id": "second", "text": "\ufeffa BOM inside the text is the text's"}]
    assert counts(str(tmp_path / "c")) == (2, 0)


COMPRESSED = {"": lambda data: data, ".gz": gzip.compress, ".zst": zstandard.compress, ".bz2": bz2.compress,
              ".xz": lzma.compress}


def test_json_lines_by_every_usual_name_and_a_json_array(tmp_path):
    """Dolma's *.json.gz, .ndjson, .json with any compression; a .json holding one array."""
    records = [{"id": f"r{i}", "text": text} for i, (_, text) in enumerate(stdlib_texts(3))]
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    names = [f"lines{base}{suffix}" for base in (".jsonl", ".ndjson", ".json") for suffix in COMPRESSED]
    for name in names:
        suffix = "." + name.rsplit(".", 1)[-1]
        (tmp_path / name).write_bytes(COMPRESSED.get(suffix, COMPRESSED[""])(lines))
    (tmp_path / "array.json").write_bytes(b"\xef\xbb\xbf" + orjson.dumps(records, option=orjson.OPT_INDENT_2))
    (tmp_path / "broken.json").write_bytes(b'[{"id": "x", "text": "the array never ends"}')
    (tmp_path / "cut.jsonl.bz2").write_bytes(bz2.compress(lines)[:-20])
    specs = [InputSpec(str(tmp_path / name), id_field="none") for name in [*names, "array.json", "broken.json", "cut.jsonl.bz2"]]
    run(str(tmp_path / "c"), IngestConfig(inputs=specs))
    corpus = Corpus.open(str(tmp_path / "c"))
    texts = corpus.sql("SELECT source, list(text ORDER BY id) AS texts FROM docs GROUP BY source").to_pylist()
    by_source = {row["source"]: row["texts"] for row in texts}
    assert set(by_source) == {"lines", "array"}  # the source is the name without its suffixes
    assert by_source["array"] == [r["text"] for r in records] and len(by_source["lines"]) == 3 * len(names)
    assert reasons_in(str(tmp_path / "c")) == {"malformed_json": 1, "unreadable_file": 1}
    rejects = corpus.sql("SELECT file FROM rejects ORDER BY file").column("file").to_pylist()
    assert [r.rsplit("/", 1)[-1] for r in rejects] == ["broken.json", "cut.jsonl.bz2"]
