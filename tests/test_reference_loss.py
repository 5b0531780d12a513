"""JEST's reference model offline: a tiny byte-level LM trained on a curated subset (here the
Linux documentation) gives lower loss on unseen documents like it than on other text, and its
losses are cached per document in attrs/reference_loss."""

from __future__ import annotations

import itertools

import pytest
from conftest import write_jsonl

from curation import Corpus
from curation.cli import main
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from scorers.stage import ScoreConfig

pytest.importorskip("torch")


def test_reference_losses_favour_the_curated_kind_of_text(tmp_path, capsys):
    root = DEFAULT_DATA_DIR / "root"
    docs = [t[:2000] for _, t in itertools.islice(sources.linux_docs(root), 400)]
    other = [t[:2000] for _, t in itertools.islice(sources.metamath(root), 200)]
    write_jsonl(tmp_path / "docs.jsonl", [{"id": f"doc{i}", "text": t} for i, t in enumerate(docs)])
    write_jsonl(tmp_path / "other.jsonl", [{"id": f"mm{i}", "text": t} for i, t in enumerate(other)])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "docs.jsonl"), domain="docs"), InputSpec(str(tmp_path / "other.jsonl"), domain="math")]))

    # Trained on 300 of the 400 documentation pages; the other 100 are unseen.
    assert main(["train-reference", corpus_dir, "--where", "domain = 'docs' AND id < 'doc3'", "--name", "ref",
                 "--steps", "60"]) == 0
    assert "--scorer reference_loss" in capsys.readouterr().out
    run(corpus_dir, ScoreConfig(scorer="reference_loss", options={"model": f"{tmp_path}/c/models/ref"}))
    means = {r["kind"]: r["loss"] for r in Corpus.open(corpus_dir).sql(
        "SELECT CASE WHEN domain = 'math' THEN 'math' WHEN id < 'doc3' THEN 'seen' ELSE 'unseen' END AS kind, "
        "avg(reference_loss.loss) AS loss FROM corpus GROUP BY ALL").to_pylist()}
    assert means["unseen"] < means["math"] - 0.3, means
    assert main(["score", corpus_dir, "--scorer", "reference_loss", "--set", f"model={tmp_path}"]) == 2
