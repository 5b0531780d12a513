"""Ablations: a planted worse arm ranked worse with an interval that excludes zero, eval documents
(and exact copies of them under other ids) in no arm, the same losses for the same seed, resume
after SIGKILL without training a finished run again, the byte-level trainer's loss accounting,
and bad arms as one line and exit 2."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import CURATE, kill_once_staged, write_jsonl

from curation import Corpus, trainer
from curation.ablate import arms
from curation.ablate.stage import AblateConfig
from curation.ablate.summary import interval, summarize
from curation.cli import main
from curation.fingerprint import fingerprint
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.mixture.emit import write_mixture
from curation.select.selection import SelectionConfig, run_selection
from curation.stage import run

# A model small enough that a run of 150,000 tokens takes a second or two on one core, and
# large enough to learn more than byte frequencies from real text in that many.
SMALL = {"dim": 64, "layers": 1, "heads": 2, "context": 64}
RUN = ["--tokens", "150000", "--eval-bytes", "6000", "--evaluations", "2"]


def _shuffled(text: str, seed: int) -> str:
    characters = list(text)
    random.Random(seed).shuffle(characters)
    return "".join(characters)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> str:
    """Real text (Linux documentation) and the same texts with their characters shuffled, as two
    domains; an exact copy of one real text under another id; a selection of each domain."""
    from curation.demo import sources
    from curation.demo.build import DEFAULT_DATA_DIR

    tmp = tmp_path_factory.mktemp("ablate")
    texts = [t[:3000] for _, t, *_ in itertools.islice(sources.linux_docs(DEFAULT_DATA_DIR / "root"), 200)]
    real = [{"id": f"real-{i}", "text": t} for i, t in enumerate(texts)]
    copies = [{"id": f"copy-{i}", "text": t} for i, t in enumerate(texts)]
    shuffled = [{"id": f"shuffled-{i}", "text": _shuffled(t, i)} for i, t in enumerate(texts)]
    inputs = [InputSpec(str(write_jsonl(tmp / f"{name}.jsonl", rows)), source=name, domain=domain)
              for name, rows, domain in (("real", real, "real"), ("copies", copies, "real"), ("shuffled", shuffled, "shuffled"))]
    corpus = str(tmp / "c")
    run(corpus, IngestConfig(inputs=inputs))
    run_selection(corpus, "real", SelectionConfig(where="domain = 'real'"))
    run_selection(corpus, "shuffled", SelectionConfig(where="domain = 'shuffled'"))
    (tmp / "small.json").write_text(json.dumps(SMALL))
    return corpus


def _model(corpus_dir: str) -> list[str]:
    return ["--model", str(Path(corpus_dir).parent / "small.json")]


def test_a_planted_worse_arm_is_ranked_worse_with_an_interval_that_excludes_zero(corpus_dir, capsys):
    assert main(["ablate", "planted", corpus_dir, "--arm", "real=real", "--arm", "shuffled=shuffled", "--seeds", "3",
                 "--eval", "domain = 'real'", *RUN, *_model(corpus_dir)]) == 0
    printed = capsys.readouterr().out
    summary = {(r["arm"], r["eval_set"]): r for r in Corpus.open(corpus_dir).sql(
        "SELECT * FROM ablation_planted_summary").to_pylist()}
    worse = summary["shuffled", "all"]
    assert worse["seeds"] == 3 and worse["difference"] > 0 and worse["difference_low"] > 0 and worse["excludes_zero"]
    assert summary["real", "all"]["bits_per_byte"] < summary["shuffled", "all"]["bits_per_byte"]
    assert "(excludes 0)" in printed and "ablation_planted_summary" in printed
    runs = Corpus.open(corpus_dir).sql("SELECT * FROM ablation_planted ORDER BY arm, seed").to_pylist()
    assert [(r["arm"], r["seed"], r["eval_set"]) for r in runs] == [(a, s, "real") for a in ("real", "shuffled") for s in range(3)]
    row = SMALL["context"] + 1
    assert {r["tokens"] for r in runs} == {round(150_000 / (16 * row)) * 16 * row}
    curves = pq.read_table(Path(corpus_dir) / "ablations" / "planted" / "curves.parquet")
    assert curves.num_rows == 2 * len(runs)  # --evaluations 2
    document = json.loads((Path(corpus_dir) / "ablations" / "planted" / "ablation.json").read_text())
    assert document["model"] == SMALL and set(document["inputs"]) == {"ingest", "arms", "outside"}
    funnel = main(["report", "funnel", corpus_dir])
    assert funnel == 0 and "planted" not in capsys.readouterr().out  # an ablation marks no documents


def test_eval_documents_and_exact_copies_of_them_are_in_no_arm(corpus_dir):
    corpus = Corpus.open(corpus_dir)
    eval_sets = arms.eval_sets(corpus, None, "domain", 20_000, seed=0)
    assert set(eval_sets["eval_set"].to_pylist()) == {"real", "shuffled"}
    for domain in ("real", "shuffled"):
        texts = [t for s, t in zip(eval_sets["eval_set"].to_pylist(), eval_sets["text"].to_pylist(), strict=True) if s == domain]
        assert sum(len(t.encode()) for t in texts[:-1]) <= 20_000 < sum(len(t.encode()) for t in texts) + 3000
    path = Path(corpus_dir).parent / "eval.parquet"
    pq.write_table(eval_sets, path)
    held_out = set(eval_sets["text"].to_pylist())
    assert any(i.startswith("real-") for i in eval_sets["id"].to_pylist())  # whose copies are in the corpus too
    for source in ("all", "real"):
        arm = arms.resolve(corpus, "a", source)
        plan = arms.plan_arm(corpus, arm, arms.mixture_config(corpus, arm, "domain", str(path), seed=0), 100_000, 4.0)
        folder = Path(corpus_dir).parent / f"arm-{source}"
        write_mixture(corpus, "a", plan, str(folder))
        written = pq.read_table(list(folder.glob("data/*/part-*.parquet")))
        assert written.num_rows > 0
        assert not set(written["id"].to_pylist()) & set(eval_sets["id"].to_pylist())
        assert not set(written["text"].to_pylist()) & held_out


def test_an_eval_folder_gives_a_set_per_file_and_its_texts_are_in_no_arm(corpus_dir, tmp_path):
    corpus = Corpus.open(corpus_dir)
    real = corpus.sql("SELECT text FROM docs WHERE id LIKE 'real-%' ORDER BY id LIMIT 3")["text"].to_pylist()
    folder = tmp_path / "eval"
    folder.mkdir()
    write_jsonl(folder / "manuals.jsonl", [{"text": t} for t in real[:2]])
    pq.write_table(pa.table({"text": [real[2], "a held-out sentence of our own."]}), folder / "extra.parquet")
    table = arms.eval_sets(corpus, str(folder), "domain", 1, seed=0)
    assert table["eval_set"].to_pylist() == ["extra", "extra", "manuals", "manuals"]
    path = tmp_path / "eval.parquet"
    pq.write_table(table, path)
    arm = arms.resolve(corpus, "a", "real")
    plan = arms.plan_arm(corpus, arm, arms.mixture_config(corpus, arm, "domain", str(path), seed=0), 10_000, 4.0)
    write_mixture(corpus, "a", plan, str(tmp_path / "arm"))
    written = pq.read_table(list((tmp_path / "arm").glob("data/*/part-*.parquet")))
    assert written.num_rows == 400 - 6  # the three texts, each a real document and its copy, are left out
    run(corpus_dir, AblateConfig(name="folder", arms={"real": "real"}, seeds=1, tokens=5000, evaluations=1,
                                 eval=str(folder), model=str(Path(corpus_dir).parent / "small.json")))
    assert set(corpus.sql("SELECT eval_set FROM ablation_folder")["eval_set"].to_pylist()) == {"extra", "manuals"}


def test_the_same_seed_gives_the_same_losses_and_a_finished_ablation_is_skipped(corpus_dir, capsys):
    config = {"arms": {"real": "real"}, "seeds": 1, "tokens": 40_000, "eval_bytes": 4000, "evaluations": 1,
              "model": str(Path(corpus_dir).parent / "small.json")}
    first = run(corpus_dir, AblateConfig(name="again_a", **config))
    second = run(corpus_dir, AblateConfig(name="again_b", **config))
    losses = [Corpus.open(corpus_dir).sql(f"SELECT loss, bits_per_byte FROM ablation_{name} ORDER BY eval_set").to_pylist()
              for name in ("again_a", "again_b")]
    assert losses[0] == losses[1] and first.details["summary"] == second.details["summary"]
    assert run(corpus_dir, AblateConfig(name="again_a", **config)).skipped
    assert run(corpus_dir, AblateConfig(name="again_c", **{**config, "seeds": 2})).rows_out == 2
    both = Corpus.open(corpus_dir).sql("SELECT loss, bits_per_byte FROM ablation_again_c ORDER BY seed, eval_set").to_pylist()
    assert both[:2] == losses[0] and both[2:] != losses[0]  # seed 0 as before; seed 1 another run


def test_a_changed_selection_makes_the_ablation_run_again(corpus_dir):
    config = {"arms": {"s": "later"}, "seeds": 1, "tokens": 20_000, "eval_bytes": 4000, "evaluations": 1,
              "model": str(Path(corpus_dir).parent / "small.json")}
    run_selection(corpus_dir, "later", SelectionConfig(where="domain = 'real'"))
    run(corpus_dir, AblateConfig(name="changes", **config))
    assert run(corpus_dir, AblateConfig(name="changes", **config)).skipped
    run_selection(corpus_dir, "later", SelectionConfig(where="domain = 'real' AND id LIKE 'real-%'"))
    assert not run(corpus_dir, AblateConfig(name="changes", **config)).skipped


def test_sigkill_mid_ablation_then_rerun_skips_the_finished_runs(corpus_dir):
    staging = Path(corpus_dir) / ".staging"
    arguments = ["ablate", "killed", corpus_dir, "--arm", "real=real", "--arm", "shuffled=shuffled", "--seeds", "2",
                 "--tokens", "40000", "--evaluations", "1", *_model(corpus_dir), "--workers", "1"]
    command = [*CURATE, *arguments]
    kill_once_staged(command, staging, "killed-*/finished/train-arm/*")
    (folder,) = staging.glob("killed-*")
    finished = {path.name for path in (folder / "finished" / "train-arm").iterdir()}
    staged = {}
    for arm, seed in itertools.product(("real", "shuffled"), range(2)):
        if fingerprint((arm, seed)) in finished:
            staged[arm, seed] = pq.read_table(folder / "runs" / f"{arm}-{seed}.parquet").to_pylist()
    assert len(staged) >= 1
    assert main(arguments) == 0
    curves = pq.read_table(Path(corpus_dir) / "ablations" / "killed" / "curves.parquet").to_pylist()
    assert len({(r["arm"], r["seed"]) for r in curves}) == 4
    for (arm, seed), rows in staged.items():  # the same rows, wall times too: not trained again
        assert [r for r in curves if (r["arm"], r["seed"]) == (arm, seed)] == rows


@pytest.mark.parametrize(("arguments", "message"), [
    (["--arm", "a=nothing"], "arm a: no selection or mixture named 'nothing'"),
    (["--arm", "a=real", "--eval", "domain = 'real'", "--eval-bytes", "100000000"], "arm a (selection real): no documents left"),
    (["--arm", "a=shuffled", "--tokens", "100000000"], "more than --max-epochs 4"),
    (["--arm", "broken"], "--arm takes NAME=SOURCE"),
    (["--arm", "a=all", "--model", "huge"], "--model is tiny, small, auto or a JSON file"),
])
def test_bad_arms_give_one_line_and_exit_2(corpus_dir, capsys, arguments, message):
    assert main(["ablate", "bad", corpus_dir, *arguments, "--seeds", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert "bad" not in Corpus.open(corpus_dir).ablations()


def test_the_trainer_packs_documents_and_counts_bits_per_byte():
    documents = [np.arange(5), np.arange(3), np.arange(9)]
    rows = list(trainer.packed(iter(documents), 4))
    assert [r.tolist() for r in rows] == [[0, 1, 2, 3], [4, 0, 1, 2], [0, 1, 2, 3], [4, 5, 6, 7]]
    assert trainer.byte_tokens("é").tolist() == [0xC3, 0xA9, trainer.SEPARATOR]
    model, _ = trainer.new_model(0, **SMALL)
    with torch.no_grad():  # a model that predicts every token uniformly over the vocabulary
        for parameter in model.parameters():
            parameter.zero_()
    texts = ["a short text", "and another, longer one " * 10]
    loss, bits = trainer.held_out_loss(model, texts)
    assert math.isclose(loss, math.log(trainer.VOCAB), rel_tol=1e-6)
    predicted = sum(len(t.encode()) + 1 for t in texts) - 1
    assert math.isclose(bits, predicted * math.log2(trainer.VOCAB) / sum(len(t.encode()) for t in texts), rel_tol=1e-6)


def test_the_summary_interval_and_paired_difference():
    mean, sd, low, high = interval(np.array([1.0, 2.0, 3.0]))
    assert (mean, sd) == (2.0, 1.0) and math.isclose(high - mean, 4.302652729911275 / math.sqrt(3), rel_tol=1e-9)

    runs = pa.Table.from_pylist([{"arm": arm, "seed": seed, "eval_set": s, "bits_per_byte": base + shift + 0.1 * seed}
                                 for arm, shift in (("a", 0.0), ("b", 0.5)) for seed in range(3)
                                 for s, base in (("x", 1.0), ("y", 2.0))])
    rows = {(r["arm"], r["eval_set"]): r for r in summarize(runs, ["a", "b"]).to_pylist()}
    assert math.isclose(rows["a", "all"]["bits_per_byte"], 1.6) and rows["a", "all"]["difference"] is None
    # Seed noise is shared by both arms, so the paired difference is exact and its interval is a point.
    assert math.isclose(rows["b", "x"]["difference"], 0.5) and rows["b", "x"]["excludes_zero"]
    assert math.isclose(rows["b", "all"]["difference_low"], 0.5) and math.isclose(rows["b", "all"]["difference_high"], 0.5)
