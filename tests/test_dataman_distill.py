"""Distilling a DataMan rater: a real chat-completions server on 127.0.0.1 rates a sample of real
text with a deterministic rule on text features (a stand-in for a DataMan model that cannot run
here); the distilled linear rater must agree with it on held-out documents, and then score the
whole corpus as the ``dataman`` scorer's distilled backend."""

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
from scorers.dataman.distill import DistilledRater
from scorers.dataman.local_server import feature_rater, serve_chat
from scorers.dataman.prompts import COLUMNS
from scorers.stage import ScoreConfig


def test_a_distilled_rater_agrees_with_the_rater_on_held_out_documents(tmp_path, capsys):
    root = DEFAULT_DATA_DIR / "root"
    texts = [t for _, t in itertools.islice(sources.fortunes(root), 300)]
    texts += [t[:4000] for _, t in itertools.islice(sources.linux_docs(root), 300)]
    texts += [t[:4000] for _, t in itertools.islice(sources.python_stdlib(), 300)]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))

    with serve_chat(feature_rater) as url:
        assert main(["distill-dataman", corpus_dir, "--name", "dataman_fast", "--sample", "800",
                     "--set", f"base_url={url}", "--set", "model=rule", "--set", f"cache_dir={tmp_path}/cache"]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "--set backend=distilled" in printed
    folder = tmp_path / "c" / "models" / "dataman_fast"
    metrics = orjson.loads((folder / "metadata.json").read_bytes())["metrics"]
    assert metrics["rated"] == 800 and metrics["held_out"] == 160
    assert min(metrics["spearman"].values()) > 0.8, metrics["spearman"]
    assert metrics["domain_accuracy"] > 0.9

    # The distilled backend scores every document, marks each as rated by it, and matches the
    # rule on documents it never saw in training as well as on held-out ones.
    record = run(corpus_dir, ScoreConfig(scorer="dataman", options={"backend": "distilled", "model": str(folder)}))
    rows = Corpus.open(corpus_dir).sql("SELECT text, dataman.* FROM corpus").to_pylist()
    assert record.rows_in == len(rows) >= len(texts) - 5 and all(r["rated"] and r["backend"] == "distilled" for r in rows)
    rule = np.array([[int(v) for v in feature_rater(r["text"]).splitlines()[1:]] for r in rows])
    assert np.mean(np.abs(np.array([[r[c] for c in COLUMNS] for r in rows]) - rule) <= 1) > 0.9
    assert np.mean([r["domain"] == feature_rater(r["text"])[0] for r in rows]) > 0.9
    assert main(["score", corpus_dir, "--scorer", "dataman", "--set", "backend=distilled", "--set", f"model={tmp_path}"]) == 2


def test_the_distilled_rater_round_trips_through_bytes():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(["alpha", "beta", "gamma", "delta"], size=rng.integers(5, 50))) for _ in range(200)]
    scores = np.array([[1 + len(t.split()) // 12] * len(COLUMNS) for t in texts])
    domains = ["A" if "alpha alpha" in t else "B" for t in texts]
    rater = DistilledRater(dim=16).fit(texts, scores, domains)
    again = DistilledRater.from_bytes(rater.to_bytes())
    for first, second in zip(rater.predict(texts), again.predict(texts), strict=True):
        assert np.array_equal(first, second)
