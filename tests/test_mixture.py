"""Training mixtures: weights and schedules, the emitted data and manifest, a real client
(datasets' load_dataset and interleave_datasets with the exported probabilities), the stream
following the schedule and resuming exactly, byte-identical output per seed, clear errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import three_domains

from curation import Corpus
from curation.cli import main
from curation.errors import UserError
from curation.ingest.stage import IngestConfig
from curation.mixture import stream
from curation.mixture.schedule import Phase, check_phases, resolve_weights, upsample_at_end
from curation.stage import run


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mix")
    run(str(tmp / "c"), IngestConfig(inputs=three_domains(tmp)))
    return str(tmp / "c")


def test_weights_and_phases():
    available = {"a": 600.0, "b": 300.0, "c": 100.0}
    assert resolve_weights("natural", available) == {"a": 0.6, "b": 0.3, "c": 0.1}
    flat = resolve_weights("temperature:2", available)
    assert abs(sum(flat.values()) - 1) < 1e-12 and flat["c"] > 0.1 and flat["a"] < 0.6
    assert resolve_weights("a=1,c=3", available) == {"a": 0.25, "b": 0.0, "c": 0.75}
    base, end = upsample_at_end(resolve_weights("natural", available), {"c": 5}, 0.2)
    assert (base.start, base.end, end.start, end.end) == (0.0, 0.8, 0.8, 1.0)
    assert abs(sum(end.weights.values()) - 1) < 1e-12 and abs(end.weights["c"] / end.weights["a"] - 5 / 6) < 1e-12
    for bad in ("a=-1", "a=0,b=0", "z=1", "temperature:0", "a=x"):
        with pytest.raises(UserError):
            resolve_weights(bad, available)
    for phases in ([Phase(0, 0.5, {}), Phase(0.6, 1, {})], [Phase(0, 0.5, {}), Phase(0.4, 1, {})], [Phase(0, 0.9, {})]):
        with pytest.raises(UserError):
            check_phases(phases)


def _manifest(corpus_dir: str, name: str) -> dict:
    return orjson.loads((Path(corpus_dir) / "mixtures" / name / "manifest.json").read_bytes())


def test_an_upsampling_schedule_is_emitted_streamed_and_resumed(corpus_dir, capsys):
    corpus = Corpus.open(corpus_dir)
    total = corpus.sql("SELECT sum(greatest(1, ceil(length(text) / 4)))::BIGINT AS t FROM docs")["t"][0].as_py()
    assert main(["mix", "up", corpus_dir, "--upsample", "code=4", "--upsample-fraction", "0.25",
                 "--tokens", str(8 * total)]) == 0
    printed = capsys.readouterr().out
    assert "warning: domain code repeats" in printed and "stream(" in printed
    manifest = _manifest(corpus_dir, "up")
    first, last = manifest["phases"]
    assert (first["start"], first["end"], last["start"], last["end"]) == (0.0, 0.75, 0.75, 1.0)
    for phase in manifest["phases"]:
        assert abs(sum(phase["weights"].values()) - 1) < 1e-9 and abs(sum(phase["probabilities"].values()) - 1) < 1e-9
    ratio = (last["weights"]["code"] / last["weights"]["docs"]) / (first["weights"]["code"] / first["weights"]["docs"])
    assert abs(ratio - 4) < 1e-9
    drawn = sum(d["tokens_drawn"] for d in manifest["domains"].values())
    assert abs(drawn - 8 * total) < 1e-6 * drawn
    assert all(abs(d["epochs"] - d["tokens_drawn"] / d["tokens"]) < 1e-9 for d in manifest["domains"].values())
    assert set(manifest["exports"]) == {"interleave_datasets"}  # a Megatron blend only names files written (--format megatron)

    # The stream follows each phase's probabilities (within 4 standard deviations) and spends
    # the budget in about the phases' token shares.
    documents = list(stream(Path(corpus_dir) / "mixtures" / "up"))
    assert [d["step"] for d in documents] == list(range(manifest["steps"]))
    domains = list(manifest["domains"])
    for number, phase in enumerate(manifest["phases"]):
        drawn = [d["domain"] for d in documents if d["phase"] == number]
        assert len(drawn) == phase["steps"]
        for domain in domains:
            p = phase["probabilities"][domain]
            assert abs(drawn.count(domain) / len(drawn) - p) < 4 * np.sqrt(p * (1 - p) / len(drawn)) + 1e-9
        tokens = {d: sum(x["tokens"] for x in documents if x["phase"] == number and x["domain"] == d) for d in domains}
        share = {d: t / sum(tokens.values()) for d, t in tokens.items()}
        assert all(abs(share[d] - phase["weights"][d]) < 0.05 for d in domains), (share, phase["weights"])

    # Resuming at any step continues exactly as the uninterrupted stream.
    for start in (1, 4095, 4097, manifest["phases"][1]["first_step"] + 3):
        resumed = list(itertools.islice(stream(Path(corpus_dir) / "mixtures" / "up", start_step=start), 50))
        assert resumed == documents[start : start + 50]

    # The mixture is a view too.
    rows = corpus.sql("SELECT domain, count(*) AS n FROM mixture_up GROUP BY ALL ORDER BY domain").to_pylist()
    assert [(r["domain"], r["n"]) for r in rows] == [(d, manifest["domains"][d]["documents"]) for d in sorted(domains)]


def test_a_real_client_loads_and_interleaves_the_mixture(corpus_dir):
    from datasets import interleave_datasets, load_dataset

    assert main(["mix", "natural", corpus_dir, "--weights", "temperature:3"]) == 0
    manifest = _manifest(corpus_dir, "natural")
    folder = Path(corpus_dir) / "mixtures" / "natural"
    export = manifest["exports"]["interleave_datasets"][0]
    parts = [load_dataset("parquet", data_files=[str(folder / p["file"]) for p in manifest["domains"][d]["parts"]],
                          split="train") for d in export["domains"]]
    assert [len(p) for p in parts] == [manifest["domains"][d]["documents"] for d in export["domains"]]
    mixed = interleave_datasets([p.map(lambda _, d=d: {"domain": d}) for p, d in zip(parts, export["domains"], strict=True)],
                                probabilities=export["probabilities"], seed=0, stopping_strategy="all_exhausted")
    drawn = mixed.select(range(1500))["domain"]
    for domain, p in zip(export["domains"], export["probabilities"], strict=True):
        assert abs(drawn.count(domain) / 1500 - p) < 4 * np.sqrt(p * (1 - p) / 1500)


def test_mixtures_are_byte_identical_for_a_seed_and_follow_a_selection(corpus_dir):
    def files(name):
        folder = Path(corpus_dir) / "mixtures" / name
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert main(["select", "some", corpus_dir, "--random", "--budget", "100", "--seed", "3"]) == 0
    runs = []
    for seed in ("5", "5", "6"):
        assert main(["mix", "m", corpus_dir, "--selection", "some", "--seed", seed, "--format", "jsonl"]) == 0
        runs.append(files("m"))
    assert runs[0] == runs[1] and runs[0] != runs[2]
    manifest = _manifest(corpus_dir, "m")
    assert sum(d["documents"] for d in manifest["domains"].values()) == 100
    assert manifest["lineage"]["selection"]["policy"] == "random"


def test_a_torch_dataloader_reads_every_step_once(corpus_dir):
    torch = pytest.importorskip("torch")
    from curation.mixture.torch_dataset import MixtureDataset

    assert main(["mix", "t", corpus_dir, "--tokens", "20000"]) == 0
    folder = Path(corpus_dir) / "mixtures" / "t"
    loader = torch.utils.data.DataLoader(MixtureDataset(folder), batch_size=16, num_workers=2, collate_fn=list)
    steps = sorted(d["step"] for batch in loader for d in batch)
    assert steps == list(range(_manifest(corpus_dir, "t")["steps"]))


@pytest.mark.parametrize("arguments", [
    ["--weights", "docs=-1,code=2"],
    ["--weights", "docs=0,code=0"],
    ["--weights", "poetry=1"],
    ["--upsample", "poetry=2"],
    ["--where", "no_such_column"],
    ["--where", "false"],
    ["--tokens", "100000000", "--max-epochs", "4"],
    ["--selection", "never_made"],
    ["--phases", "PHASES_GAP"],
    ["--phases", "PHASES_OVERLAP"],
    ["--weights", "natural", "--upsample-fraction", "1.5", "--upsample", "code=2"],
    ["--rehydrate", "fineweb2"],  # this corpus has no minhash stage
    ["--rehydrate", "2-5=2,4+=3"],
    ["--rehydrate", "two=2"],
])
def test_bad_requests_are_one_line(corpus_dir, arguments, tmp_path, capsys):
    phases = {"PHASES_GAP": [{"start": 0, "end": 0.5}, {"start": 0.6, "end": 1}],
              "PHASES_OVERLAP": [{"start": 0, "end": 0.5}, {"start": 0.4, "end": 1}]}
    for key, value in phases.items():
        (tmp_path / f"{key}.yaml").write_text(orjson.dumps(value).decode())
    arguments = [str(tmp_path / f"{a}.yaml") if a in phases else a for a in arguments]
    assert main(["mix", "bad", corpus_dir, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "\n" not in error and "Traceback" not in error


def test_rehydration_repeats_each_kept_document_by_its_near_duplicate_cluster_size(tmp_path):
    """Planted clusters of 1 to 6 near-copies (a word changed per copy): fuzzy dedup keeps one of
    each, and the rehydrated mixture holds that one as often as the table says for its size."""
    from conftest import stdlib_texts, write_jsonl

    from curation.ingest.units import InputSpec
    from curation.minhash.stage import MinhashConfig
    from curation.mixture.rehydrate import FINEWEB2, copies_sql, parse_table

    rows = []
    for size, (name, text) in zip(range(1, 7), stdlib_texts(6, min_chars=4000), strict=True):
        words = text[:4000].split()
        rows += [{"id": f"{name}-{copy}", "text": " ".join([*words[:-1], f"variant{copy}"])} for copy in range(size)]
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(write_jsonl(tmp_path / "near.jsonl", rows)), domain="code")]))
    run(corpus_dir, MinhashConfig())
    assert main(["mix", "rehydrated", corpus_dir, "--where", "minhash.keep", "--rehydrate", "1=1,2-3=2,4+=3"]) == 0
    corpus = Corpus.open(corpus_dir)
    sizes = {r["id"]: r["size"] for r in corpus.sql(
        "SELECT id, minhash.cluster_size AS size FROM corpus WHERE minhash.keep").to_pylist()}
    assert sorted(sizes.values()) == [1, 2, 3, 4, 5, 6]
    copies = {r["id"]: r["n"] for r in corpus.sql("SELECT id, count(*) AS n FROM mixture_rehydrated GROUP BY id").to_pylist()}
    assert copies == {doc: {1: 1, 2: 2, 3: 2}.get(size, 3) for doc, size in sizes.items()}
    assert parse_table("fineweb2") == FINEWEB2 and "WHEN s >= 1000 THEN 1" in copies_sql(FINEWEB2, "s")
