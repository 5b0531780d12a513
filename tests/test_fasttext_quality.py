"""fastText quality classifier: the DCLM recipe on separable real text, the model kept in
models/, scoring as a stage, and ROC AUC checked against counting pairs."""

from __future__ import annotations

import itertools

import numpy as np
import orjson
from conftest import write_jsonl

from curation import Corpus
from curation.cli import main
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from scorers.fasttext_quality import top_share_threshold
from scorers.metrics import roc_auc, spearman
from scorers.stage import ScoreConfig


def test_roc_auc_equals_the_share_of_correctly_ordered_pairs():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 2)  # ties included
    labels = rng.random(300) < 0.4
    pairs = [(p, n) for p in scores[labels] for n in scores[~labels]]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert abs(roc_auc(scores, labels) - expected) < 1e-12


def test_spearman_is_pearson_on_ranks_and_undefined_for_constants():
    a = np.array([1, 2, 2, 3, 5])
    assert spearman(a, a**3) == 1.0 and spearman(a, -a) == -1.0
    assert spearman(a, np.full(5, 3)) is None


def test_top_share_threshold_keeps_that_share_of_documents_or_of_characters():
    rng = np.random.default_rng(1)
    scores = rng.random(10_000).astype(np.float32)
    t = top_share_threshold(scores, np.ones(len(scores)), 0.1)
    assert (scores >= t).sum() == 1000
    # Long documents score high here, so the top 10% of characters is far fewer documents.
    chars = np.where(scores > 0.5, 1000.0, 10.0)
    t = top_share_threshold(scores, chars, 0.1)
    kept = scores >= t
    assert abs(chars[kept].sum() / chars.sum() - 0.1) < 0.001 and kept.sum() < 600  # vs 1,000 by documents


def test_dclm_recipe_separates_real_text_and_the_model_round_trips(tmp_path, capsys):
    root = DEFAULT_DATA_DIR / "root"
    docs = [{"id": f"doc{i}", "text": t[:3000], "domain": "docs"} for i, (_, t) in enumerate(itertools.islice(sources.linux_docs(root), 400))]
    jokes = [{"id": f"fortune{i}", "text": t, "domain": "literature"} for i, (_, t) in enumerate(itertools.islice(sources.fortunes(root), 400))]
    write_jsonl(tmp_path / "in.jsonl", docs + jokes)
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))

    assert main(["train-quality", corpus_dir, "--positive", "domain = 'docs'", "--negative",
                 "SELECT text FROM docs WHERE domain = 'literature'", "--name", "docs_vs_jokes"]) == 0
    printed = capsys.readouterr().out
    assert "ROC AUC" in printed and "--scorer quality_fasttext" in printed
    folder = tmp_path / "c" / "models" / "docs_vs_jokes"
    metadata = orjson.loads((folder / "metadata.json").read_bytes())
    assert metadata["metrics"]["roc_auc"] > 0.9 and metadata["fasttext"]["wordNgrams"] == 2
    assert metadata["metrics"]["held_out"] == 80
    # Quantised: a few MB instead of DCLM's ~1 GB of buckets, for less than 0.005 of ROC AUC.
    quantized = metadata["metrics"]["quantized"]
    assert quantized["kept"] and quantized["roc_auc_unquantized"] - quantized["roc_auc"] < 0.005
    assert (folder / "model.bin").stat().st_size == metadata["metrics"]["bytes"] < 20e6 < quantized["bytes_unquantized"]
    assert "quantised: ROC AUC" in printed

    # With 720 training lines the probabilities stay near 0.5 (a threshold is pool-specific, as
    # DCLM's 0.018 is), but the order is what matters: the model read back from models/ ranks
    # every document of the corpus as it was trained to.
    options = {"model": str(folder / "model.bin"), "threshold": 0.5}
    record = run(corpus_dir, ScoreConfig(scorer="quality_fasttext", options=options))
    rows = Corpus.open(corpus_dir).sql("SELECT domain, quality_fasttext.score AS score, quality_fasttext.keep AS keep FROM corpus").to_pylist()
    scores = np.array([r["score"] for r in rows])
    assert roc_auc(scores, np.array([r["domain"] == "docs" for r in rows])) > 0.9
    assert record.rows_out == sum(r["keep"] for r in rows) == int((scores >= 0.5).sum())
    assert main(["score", corpus_dir, "--scorer", "quality_fasttext", "--set", f"model={tmp_path}/missing.bin"]) == 2

    # A threshold by top-k percent is calibrated on a sample before the parts are scored, kept
    # with the stage record, and the scores go to a table of their own name.
    options = {"model": str(folder / "model.bin"), "top_percent": 25, "top_by": "chars"}
    record = run(corpus_dir, ScoreConfig(scorer="quality_fasttext", options=options, name="docs_quality"))
    threshold = record.details["calibration"]["threshold"]
    kept = Corpus.open(corpus_dir).sql(
        "SELECT sum(length(text)) FILTER (WHERE docs_quality.keep) / sum(length(text)) AS share, "
        "min(docs_quality.score) FILTER (WHERE docs_quality.keep) AS lowest FROM corpus").to_pylist()[0]
    assert abs(kept["share"] - 0.25) < 0.02 and kept["lowest"] >= threshold
    assert main(["score", corpus_dir, "--scorer", "heuristics", "--as", "docs"]) == 2
