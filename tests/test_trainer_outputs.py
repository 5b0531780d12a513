"""Trainer-ready mixtures, read back by the trainers' own libraries: Megatron-LM's IndexedDataset
and blended GPT dataset builder (megatron-core), MosaicML's StreamingDataset; the packed token
stream resuming exactly inside a document, at a boundary and at a phase boundary; lineage from a
token back to its document, and the SQL view of what was written."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
from conftest import three_domains, write_jsonl

from curation import Corpus
from curation.cli import main
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.mixture import stream, token_files
from curation.mixture.token_files import TokenDomain
from curation.stage import run
from curation.tokens import TokensConfig, load_tokenizer

SEQ_LEN = 64


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainer")
    run(str(tmp / "c"), IngestConfig(inputs=three_domains(tmp), shard_size=150))
    run(str(tmp / "c"), TokensConfig())
    return str(tmp / "c")


@pytest.fixture(scope="module")
def texts(corpus_dir) -> dict[str, str]:
    return {row["id"]: row["text"] for row in Corpus.open(corpus_dir).sql("SELECT id, text FROM docs").to_pylist()}


def _fresh(text: str) -> list[int]:
    gpt2 = load_tokenizer("gpt2")
    return gpt2.encode(text).ids + [gpt2.token_to_id("<|endoftext|>")]


def _emit(corpus_dir: str, name: str, fmt: str) -> tuple[Path, dict]:
    """Code upsampled 3x for the last fifth: two phases over the same documents; a budget of 3x the tokens."""
    total = Corpus.open(corpus_dir).sql("SELECT sum(tokens.tokens) AS t FROM corpus")["t"][0].as_py()
    assert main(["mix", name, corpus_dir, "--format", fmt, "--upsample", "code=3", "--upsample-fraction", "0.2",
                 "--tokens", str(3 * total)]) == 0
    folder = Path(corpus_dir) / "mixtures" / name
    return folder, orjson.loads((folder / "manifest.json").read_bytes())


@pytest.fixture(scope="module")
def megatron(corpus_dir) -> tuple[Path, dict]:
    return _emit(corpus_dir, "meg", "megatron")


def test_megatron_indexed_dataset_holds_every_document_freshly_tokenized(corpus_dir, megatron, texts):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    folder, manifest = megatron
    written = 0
    for domain, info in manifest["domains"].items():
        dataset = IndexedDataset(str(folder / info["path"] / "tokens"))
        lineage = pq.read_table(folder / info["path"] / "documents.parquet").to_pylist()
        assert len(dataset) == len(lineage) == info["documents"] == sum(d.startswith(domain) for d in texts)
        assert list(dataset.document_indices) == list(range(len(dataset) + 1))
        for number, row in enumerate(lineage):
            assert dataset[number].tolist() == _fresh(texts[row["id"]]) and row["tokens"] == len(dataset[number])
        assert sum(len(dataset[n]) for n in range(len(dataset))) == info["tokens"]
        written += len(dataset)
    assert written == len(texts)


def test_the_index_written_in_chunks_is_the_index_written_at_once(corpus_dir, megatron, monkeypatch):
    """The driver writes tokens.idx a chunk of documents at a time; chunks of 7 give the same bytes."""
    monkeypatch.setattr(token_files, "CHUNK", 7)
    folder, manifest = megatron
    chunked, _ = _emit(corpus_dir, "meg_chunked", "megatron")
    for info in manifest["domains"].values():
        assert (chunked / info["path"] / "tokens.idx").read_bytes() == (folder / info["path"] / "tokens.idx").read_bytes()
        assert not (chunked / info["path"] / token_files.LENGTHS).exists()


def test_megatron_blend_gives_the_schedules_token_shares(megatron, monkeypatch):
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.megatron_tokenizer import MegatronLegacyTokenizer
    from megatron.core.datasets.utils import get_blend_from_list

    class GPT2(MegatronLegacyTokenizer):
        """Megatron's tokenizer interface over the tokenizer the mixture was made with."""

        def __init__(self):
            super().__init__("gpt2")
            self.tokenizer = load_tokenizer("gpt2")

        def tokenize(self, text):
            return self.tokenizer.encode(text).ids

        @property
        def vocab(self):
            return self.tokenizer.get_vocab()

        @property
        def inv_vocab(self):
            return {i: t for t, i in self.vocab.items()}

        @property
        def vocab_size(self):
            return self.tokenizer.get_vocab_size()

        @property
        def eod(self):
            return self.tokenizer.token_to_id("<|endoftext|>")

    folder, manifest = megatron
    monkeypatch.chdir(folder)  # the blend's prefixes are relative to the mixture, as the README runs it
    assert len(manifest["exports"]["megatron_blend"]) == len(manifest["phases"]) == 2
    for phase, blend in zip(manifest["phases"], manifest["exports"]["megatron_blend"], strict=True):
        prefixes, weights = get_blend_from_list(blend.split())
        assert all(Path(f"{p}.bin").is_file() and Path(f"{p}.idx").is_file() for p in prefixes)
        config = GPTDatasetConfig(random_seed=1, sequence_length=SEQ_LEN, blend=(prefixes, weights), split="1,0,0",
                                  tokenizer=GPT2(), reset_position_ids=False, reset_attention_mask=False,
                                  eod_mask_loss=False, path_to_cache=None, mid_level_dataset_surplus=0.005)
        train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [3000, 0, 0], lambda: True, config).build()
        drawn = np.bincount(np.asarray(train.dataset_index), minlength=len(prefixes)) / len(train)
        for prefix, share in zip(prefixes, drawn, strict=True):
            domain = next(d for d, info in manifest["domains"].items() if f"{info['path']}/tokens" == prefix)
            assert abs(share - phase["weights"][domain]) < 0.01, (domain, share, phase["weights"])
        sample = train[0]
        assert sample["tokens"].shape == (SEQ_LEN,)


def test_lineage_from_a_token_to_its_document_and_the_sql_view(corpus_dir, megatron, texts):
    folder, manifest = megatron
    view = Corpus.open(corpus_dir).sql('SELECT domain, id, tokens, file, "offset" FROM mixture_meg ORDER BY file, "offset"')
    assert view.num_rows == len(texts) and set(view["domain"].to_pylist()) == {"docs", "code", "literature"}
    code = TokenDomain(folder / manifest["domains"]["code"]["path"])
    for row in (r for r in view.to_pylist() if r["domain"] == "code"):
        assert row["file"] == "data/code/tokens.bin"
        assert code.at(row["offset"]) == (row["id"], 0)
        assert code.at(row["offset"] + row["tokens"] - 1) == (row["id"], row["tokens"] - 1)
    with pytest.raises(IndexError):
        code.at(int(code.lengths.sum()))


def test_the_packed_stream_is_the_document_stream_cut_into_sequences(megatron):
    folder, manifest = megatron
    documents = list(stream(folder))
    assert len(documents) == manifest["steps"]
    tokens = np.concatenate([d["ids"] for d in documents])
    sequences = list(stream(folder, seq_len=SEQ_LEN))
    assert len(sequences) == len(tokens) // SEQ_LEN
    starts = np.concatenate([[0], np.cumsum([len(d["ids"]) for d in documents])])
    for sequence in sequences[:: 37]:
        k = sequence["step"]
        assert np.array_equal(sequence["ids"], tokens[k * SEQ_LEN:(k + 1) * SEQ_LEN])
        first = int(np.searchsorted(starts, k * SEQ_LEN, side="right")) - 1
        inside = [d for d in documents[first:] if starts[d["step"]] < (k + 1) * SEQ_LEN]
        assert [(d["domain"], d["id"]) for d in inside] == [(d["domain"], d["id"]) for d in sequence["documents"]]
        assert [e["start"] for e in sequence["documents"]] == [max(0, int(starts[d["step"]]) - k * SEQ_LEN) for d in inside]
        assert sequence["documents"][0]["offset"] == k * SEQ_LEN - int(starts[first])
        assert sequence["phase"] == documents[first]["phase"]
    assert {s["phase"] for s in sequences} == {0, 1}


def test_the_packed_stream_resumes_exactly(megatron):
    folder, _ = megatron
    sequences = list(stream(folder, seq_len=SEQ_LEN))
    inside = next(s["step"] for s in sequences if s["documents"][0]["offset"] > 0)
    boundary = next(s["step"] for s in sequences if s["documents"][0]["offset"] == 0 and s["step"] > 0)
    phase = next(s["step"] for s in sequences if s["phase"] == 1)
    for start in (inside, boundary, phase, phase + 1, len(sequences) - 1, len(sequences)):
        resumed = list(stream(folder, seq_len=SEQ_LEN, start_step=start))
        assert len(resumed) == len(sequences) - start
        for a, b in zip(resumed[:40], sequences[start:start + 40], strict=False):
            assert a["step"] == b["step"] and np.array_equal(a["ids"], b["ids"]) and a["documents"] == b["documents"]


def test_torch_workers_each_read_only_their_share(megatron):
    torch = pytest.importorskip("torch")
    from curation.mixture.torch_dataset import MixtureDataset

    folder, _ = megatron
    sequences = {s["step"]: s["ids"] for s in stream(folder, seq_len=SEQ_LEN)}
    for w in range(3):
        share = [s["step"] for s in stream(folder, seq_len=SEQ_LEN, share=(w, 3))]
        assert share == [k for k in sequences if k % 3 == w]
    loader = torch.utils.data.DataLoader(MixtureDataset(folder, seq_len=SEQ_LEN), batch_size=8, num_workers=2,
                                         collate_fn=list)
    seen = [s for batch in loader for s in batch]
    assert sorted(s["step"] for s in seen) == sorted(sequences)
    assert all(np.array_equal(s["ids"], sequences[s["step"]]) for s in seen)


def test_mds_streams_read_back_with_streaming(corpus_dir, texts):
    from streaming import Stream, StreamingDataset

    folder, manifest = _emit(corpus_dir, "mds", "mds")
    for phase, streams in zip(manifest["phases"], manifest["exports"]["mds_streams"], strict=True):
        dataset = StreamingDataset(streams=[Stream(local=str(folder / s["local"]), proportion=s["proportion"])
                                            for s in streams], shuffle=True, shuffle_seed=1, batch_size=1,
                                   epoch_size=4000)
        domains = {f"data/{d}": d for d in manifest["domains"]}
        counts = dict.fromkeys(manifest["domains"], 0)
        for sample in itertools.islice(dataset, 4000):
            domain = sample["id"].split("-")[0]
            counts[domain] += 1
            assert sample["tokens"].tolist() == _fresh(texts[sample["id"]])
        for s in streams:
            assert abs(counts[domains[s["local"]]] / 4000 - s["proportion"]) < 0.03, (counts, streams)
        assert phase["probabilities"] == {domains[s["local"]]: s["proportion"] for s in streams}
    view = Corpus.open(corpus_dir).sql("SELECT domain, count(*) AS n FROM mixture_mds GROUP BY ALL").to_pylist()
    assert {r["domain"]: r["n"] for r in view} == {d: i["documents"] for d, i in manifest["domains"].items()}


def test_token_formats_need_current_token_ids(tmp_path, capsys):
    write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": f"text number {i}"} for i in range(20)])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "a.jsonl"), domain="a")]))
    assert main(["mix", "m", str(tmp_path / "c"), "--format", "megatron"]) == 2
    assert "run `curate tokens" in capsys.readouterr().err
    run(str(tmp_path / "c"), TokensConfig())
    write_jsonl(tmp_path / "b.jsonl", [{"id": f"b{i}", "text": f"more text {i}"} for i in range(20)])
    assert main(["ingest", str(tmp_path / "b.jsonl"), "--corpus", str(tmp_path / "c"), "--append", "--domain", "a"]) == 0
    assert main(["mix", "m", str(tmp_path / "c"), "--format", "mds"]) == 2
    assert "it ran on other documents" in capsys.readouterr().err
    assert main(["mix", "m", str(tmp_path / "c")]) == 0
    with pytest.raises(ValueError, match="--format megatron"):
        next(stream(tmp_path / "c" / "mixtures" / "m", seq_len=8))
