"""Selecting with DataMan ratings (DataMan): best-first within a token budget, random among equal
metrics, even upsampling of short strata, multi_domain keeping the token share of every source
and domain; end to end over attrs/dataman written by the real client against a local server."""

from __future__ import annotations

import itertools

import numpy as np
from conftest import write_jsonl

from curation import Corpus
from curation.cli import main
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.select.sampling import select_in_strata, stratum_budgets, take_until
from curation.stage import run
from scorers.dataman.local_server import serve_chat
from scorers.stage import ScoreConfig


def test_take_until_takes_the_best_first_and_stops_at_the_budget():
    rng = np.random.default_rng(0)
    metric, tokens = rng.random(1000), rng.integers(1, 100, 1000)
    repeats = take_until(metric, tokens, 5000, rng)
    picked = repeats > 0
    assert set(repeats) == {0, 1} and metric[picked].min() > metric[~picked].max()
    assert 5000 <= tokens[picked].sum() < 5000 + tokens.max()


def test_equal_metrics_are_sampled_uniformly():
    tokens = np.ones(100, dtype=np.int64)
    counts = sum(take_until(np.full(100, 5.0), tokens, 10, np.random.default_rng(seed)) for seed in range(2000))
    # Each document's pick count over 2,000 draws of 10 of 100: mean 200, sd ~13.4.
    assert abs(counts.mean() - 200) < 1e-9 and counts.min() > 140 and counts.max() < 260


def test_a_short_stratum_is_upsampled_evenly_best_first():
    metric = np.arange(10.0)
    repeats = take_until(metric, np.full(10, 10), 250, np.random.default_rng(0))
    assert (repeats * 10).sum() == 250
    assert set(repeats[metric >= 5]) == {3} and set(repeats[metric < 5]) == {2}


def test_multi_domain_keeps_every_strata_token_share():
    rng = np.random.default_rng(3)
    strata = rng.choice(6, size=20_000, p=[0.4, 0.25, 0.15, 0.1, 0.07, 0.03])
    tokens = rng.integers(50, 500, len(strata))
    budget = 0.2 * tokens.sum()
    repeats, reports = select_in_strata(strata, rng.random(len(strata)), tokens,
                                        stratum_budgets(strata, tokens, budget, "multi_domain"), seed=0)
    pool = np.bincount(strata, weights=tokens) / tokens.sum()
    chosen = np.bincount(strata, weights=tokens * repeats) / (tokens * repeats).sum()
    assert np.abs(pool - chosen).max() < 0.002
    assert all(r.max_repeats == 1 and r.selected >= r.budget for r in reports)
    equal = stratum_budgets(strata, tokens, budget, "equi_domain")
    assert np.allclose(equal, budget / 6)


def _rater(text: str) -> str:
    """Overall score from the text's length; code is Coding, the rest Technology."""
    overall = 5 if len(text) > 2000 else 4 if len(text) > 800 else 3 if len(text) > 300 else 2
    return "\n".join(["H" if "def " in text else "E", *["3"] * 13, str(overall)])


def test_dataman_selections_end_to_end(tmp_path, capsys):
    root = DEFAULT_DATA_DIR / "root"
    write_jsonl(tmp_path / "linux.jsonl", [{"id": f"l{i}", "text": t} for i, (_, t) in enumerate(itertools.islice(sources.linux_docs(root), 200))])
    write_jsonl(tmp_path / "stdlib.jsonl", [{"id": f"p{i}", "text": t} for i, (_, t) in enumerate(itertools.islice(sources.python_stdlib(), 100))])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "linux.jsonl"), source="linux-doc"), InputSpec(str(tmp_path / "stdlib.jsonl"), source="stdlib")]))
    with serve_chat(_rater) as url:
        run(corpus_dir, ScoreConfig(scorer="dataman", options={"base_url": url, "model": "rule", "cache_dir": str(tmp_path / "cache")}))
    corpus = Corpus.open(corpus_dir)
    total = corpus.sql("SELECT sum(greatest(1, (length(text) + 3) // 4))::BIGINT AS t FROM docs").to_pylist()[0]["t"]

    budget = int(total * 0.3)
    assert main(["select", "md", corpus_dir, "--dataman", "multi_domain", "--budget", str(budget), "--unit", "tokens"]) == 0
    shares = corpus.sql(
        "WITH t AS (SELECT d.source, dataman.domain, greatest(1, (length(text) + 3) // 4) AS tokens, s.repeats "
        "FROM corpus d LEFT JOIN selection_md s USING (id)) "
        "SELECT source, domain, sum(tokens) / (SELECT sum(tokens) FROM t) AS pool, "
        "sum(tokens * coalesce(repeats, 0)) / (SELECT sum(tokens * coalesce(repeats, 0)) FROM t) AS picked "
        "FROM t GROUP BY ALL").to_pylist()
    assert len(shares) >= 3 and all(abs(r["pool"] - r["picked"]) < 0.03 for r in shares), shares
    first = (tmp_path / "c" / "selections" / "md" / "part-00000.parquet").read_bytes()
    assert main(["select", "md", corpus_dir, "--dataman", "multi_domain", "--budget", str(budget), "--unit", "tokens"]) == 0
    assert (tmp_path / "c" / "selections" / "md" / "part-00000.parquet").read_bytes() == first

    # overall_score == 5, then uniform sampling; a budget beyond what the 5s hold upsamples them, loudly.
    assert main(["select", "top", corpus_dir, "--dataman", "uniform", "--target-scores", "5", "--budget", str(total), "--unit", "tokens"]) == 0
    assert "upsampled" in capsys.readouterr().out
    picked = corpus.sql("SELECT min(dataman.overall_score) AS lo, max(repeats) AS most FROM selection_top JOIN dataman USING (id)")
    assert picked.to_pylist() == [{"lo": 5, "most": picked.to_pylist()[0]["most"]}] and picked.to_pylist()[0]["most"] > 1

    assert main(["select", "x", corpus_dir, "--dataman", "uniform", "--budget", "10", "--target-domains", "Cooking"]) == 2
    assert main(["select", "x", corpus_dir, "--dataman", "uniform"]) == 2
    assert main(["select", "x", corpus_dir, "--dataman", "uniform", "--budget", "10", "--balanced", "5"]) == 2
    assert main(["select", "x", corpus_dir, "--dataman", "uniform", "--budget", "10", "--target-domains", "Medicine"]) == 2
