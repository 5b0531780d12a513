"""Embeddings, hierarchical k-means, balanced sampling and SemDeDup: properties that fail when
the algorithms are wrong, on real text and real FAISS."""

from __future__ import annotations

import itertools
import random
import subprocess

import numpy as np
import pyarrow as pa
import pytest
from conftest import CURATE, kill_once_staged, stdlib_texts, write_jsonl
from near_duplicates import planted_variant

from curation import Corpus
from curation.catalog import report_sql
from curation.cli import main
from curation.clusters.balanced import allocate, balanced_sample
from curation.clusters.hierarchical import HierarchicalKMeans
from curation.clusters.kmeans import kmeans
from curation.clusters.stage import ClustersConfig, default_ks
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.embed.encoders import load_encoder, minilm_path, normalized
from curation.embed.stage import EmbedConfig, read_vectors
from curation.errors import UserError
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.select.balanced import select_balanced
from curation.select.selection import SelectionConfig
from curation.semdedup import SemdedupConfig, keep_order, max_earlier_similarity, similarity_blocks, slice_owners
from curation.stage import run


def pages(count: int, chars: int = 1200) -> list[str]:
    out = []
    for _, text in stdlib_texts(400, min_chars=chars):
        out += [text[i : i + chars] for i in range(0, len(text) - chars, chars)]
    return out[:count]


# -- hierarchical k-means ----------------------------------------------------------------------
def skewed_mixture(rng: np.random.Generator, half_width: float) -> np.ndarray:
    """Three dense blobs of very different mass and a thin uniform background (Vo et al. 2024's long-tail case)."""
    blobs = [rng.normal([-1.5, -1.5], 0.15, (20000, 2)), rng.normal([1.5, 1.0], 0.2, (8000, 2)),
             rng.normal([0.0, 1.8], 0.25, (1500, 2)), rng.uniform(-half_width, half_width, (500, 2))]
    return np.clip(np.concatenate(blobs), -half_width, half_width).astype(np.float32)


def kl_to_uniform(centroids: np.ndarray, half_width: float, bandwidth: float = 0.5, step: float = 0.05) -> float:
    """KL divergence from a Gaussian KDE of the centroids to the uniform law on the square."""
    grid = np.arange(-half_width, half_width + 1e-9, step)
    points = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    density = np.exp(-((points[:, None, :] - centroids[None]) ** 2).sum(-1) / (2 * bandwidth**2)).sum(1)
    density /= density.sum()
    return float((density * np.log(density * len(density))).sum())


def test_multilevel_kmeans_with_resampling_spreads_centroids_closer_to_uniform_than_flat():
    x = skewed_mixture(np.random.default_rng(0), 3.0)
    flat = kl_to_uniform(kmeans(x, 100, seed=0), 3.0)
    hierarchical = kl_to_uniform(HierarchicalKMeans((300, 100), seed=0).fit(x).centroids_[-1], 3.0)
    assert hierarchical < 0.5 * flat, (hierarchical, flat)


def test_hierarchy_levels_nest_and_predict_matches_the_tree():
    x = skewed_mixture(np.random.default_rng(1), 3.0)
    model = HierarchicalKMeans((60, 12, 3), seed=2).fit(x)
    assert [len(c) for c in model.centroids_] == [60, 12, 3]
    labels, distance = model.predict(x)
    assert (labels[:, 1] == model.parents_[0][labels[:, 0]]).all()
    assert (labels[:, 2] == model.parents_[1][labels[:, 1]]).all()
    # Each point's distance is to its own level-1 centroid, the nearest one.
    nearest = np.linalg.norm(x[:, None, :] - model.centroids_[0][None], axis=2)
    assert np.allclose(distance, nearest.min(axis=1), atol=1e-4) and (labels[:, 0] == nearest.argmin(axis=1)).all()
    with pytest.raises(UserError, match="one value per level"):
        HierarchicalKMeans((10, 2), resample_steps=(3,))


def test_default_levels_follow_the_corpus_size():
    assert default_ks(50_000) == (1000, 100, 10)
    assert default_ks(1_000_000) == (1024, 102, 10)
    assert default_ks(600) == (12,)


# -- balanced sampling -----------------------------------------------------------------------
def test_allocation_is_water_filling():
    rng = np.random.default_rng(4)
    for _ in range(200):
        sizes = rng.zipf(1.6, rng.integers(1, 40)).clip(max=500)
        multiplier = int(rng.integers(1, 3))
        target = int(rng.integers(1, sizes.sum() * multiplier + 20))
        quota = allocate(sizes, target, multiplier, rng)
        cap = sizes * multiplier
        assert (quota <= cap).all() and (quota >= 0).all()
        assert quota.sum() == min(target, cap.sum())
        if cap.sum() > target:
            level = quota[quota < cap].min() if (quota < cap).any() else quota.max()
            # Unfilled clusters share one level (x or x + 1); filled ones are below it.
            assert set(quota[quota < cap]) <= {level, level + 1}
            assert (cap[quota == cap] <= level + 1).all()


def tree(rng: np.random.Generator, rows: int = 5000) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    labels = np.minimum(rng.zipf(1.3, rows) - 1, 59)  # 60 level-1 clusters of power-law sizes
    distance = rng.random(rows).astype(np.float32)
    parents = [rng.integers(0, 8, 60), rng.integers(0, 2, 8)]
    parents[1][:2] = [0, 1]  # both top clusters have children
    return labels, distance, parents


def test_balanced_sample_returns_exactly_n_split_by_water_filling():
    rng = np.random.default_rng(5)
    labels, distance, parents = tree(rng)
    picks = balanced_sample(labels, distance, parents, 1000, seed=1)
    assert len(picks) == 1000 and len(np.unique(picks)) == 1000
    # Level-2 clusters inside each top cluster get equal shares unless they are smaller.
    level2 = parents[0][labels]
    sizes = np.bincount(level2, minlength=8)
    taken = np.bincount(level2[picks], minlength=8)
    for top in (0, 1):
        kids = np.flatnonzero(parents[1] == top)
        unfilled = taken[kids][taken[kids] < sizes[kids]]
        assert unfilled.max() - unfilled.min() <= 1 if len(unfilled) else True
    # Top clusters likewise: here the smaller one is taken whole and the larger one gets the rest.
    top_sizes, top_taken = np.bincount(parents[1], weights=sizes), np.bincount(parents[1], weights=taken)
    assert top_taken.tolist() == [min(top_sizes[0], 1000 - top_taken[1]), 1000 - min(top_sizes[0], 500)]
    # More than the multiplier allows: everything, each row `multiplier` times.
    assert len(balanced_sample(labels, distance, parents, 10**6, multiplier=2)) == 2 * len(labels)
    assert (balanced_sample(labels, distance, parents, 700, seed=3) == balanced_sample(labels, distance, parents, 700, seed=3)).all()


def test_closest_strategy_takes_the_points_nearest_each_centroid():
    rng = np.random.default_rng(6)
    labels, distance, parents = tree(rng)
    picks = balanced_sample(labels, distance, parents, 400, strategy="closest", seed=2)
    for level1 in np.unique(labels):
        members = np.flatnonzero(labels == level1)
        chosen = np.intersect1d(picks, members)
        if 0 < len(chosen) < len(members):
            nearest = members[np.argsort(distance[members], kind="stable")][: len(chosen)]
            assert set(chosen) == set(nearest)


# -- the stages on real text ---------------------------------------------------------------------
def skewed_domains(root) -> list[dict]:
    """Real demo text with one domain ten times larger than the others."""
    data = DEFAULT_DATA_DIR / "root"
    groups = {
        "docs": (sources.linux_docs(data), 600), "literature": (sources.fortunes(data), 60),
        "reference": (sources.foldoc(data), 60), "math": (sources.metamath(data), 60),
        "web": (sources.sqlite_site(data), 60), "code": (sources.python_stdlib(), 60),
    }
    records = []
    for domain, (texts, count) in groups.items():
        records += [{"id": f"{domain}-{i}", "text": text[:3000], "domain": domain}
                    for i, (_, text) in enumerate(itertools.islice(texts, count))]
    write_jsonl(root / "skewed.jsonl", records)
    return records


def entropy(domains: list[str]) -> float:
    counts = np.unique(domains, return_counts=True)[1] / len(domains)
    return float(-(counts * np.log(counts)).sum())


def test_balanced_selection_has_more_domain_entropy_than_random(tmp_path):
    records = skewed_domains(tmp_path)
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "skewed.jsonl"))], shard_size=300))
    # The static encoder (distilled from MiniLM) separates topics; the hashing encoder only
    # words, and splits the diverse Linux documentation over most clusters (README).
    run(corpus_dir, EmbedConfig(encoder="static"))
    run(corpus_dir, ClustersConfig(k=(40, 8)))
    select_balanced(corpus_dir, "balanced", SelectionConfig(balanced=300, seed=1))
    corpus = Corpus.open(corpus_dir)
    chosen = corpus.sql("SELECT domain FROM docs JOIN selection_balanced USING (id)")["domain"].to_pylist()
    random_sample = [r["domain"] for r in random.Random(1).sample(records, 300)]
    assert len(chosen) == 300
    balanced, uniform = entropy(chosen), entropy(random_sample)
    print(f"domain entropy: balanced {balanced:.3f}, random {uniform:.3f}, maximum {np.log(6):.3f}")
    assert balanced > uniform + 0.3
    definition = corpus.sql("SELECT count(*) AS n, min(repeats) AS r FROM selection_balanced").to_pylist()[0]
    assert definition == {"n": 300, "r": 1}
    sizes = corpus.sql(report_sql("cluster_sizes")).to_pylist()
    assert [(r["level"], r["clusters"]) for r in sizes[:2]] == [("level_1", 40), ("level_2", 8)]
    assert all(r["nearest_text"] for r in sizes[2:]) and sum(r["largest"] for r in sizes[:1]) >= sizes[2]["largest"]
    # --where narrows the documents balanced sampling chooses among.
    assert main(["select", "code", corpus_dir, "--balanced", "50", "--where", "domain <> 'docs'"]) == 0
    picked = corpus.sql("SELECT count(*) AS n, count(*) FILTER (WHERE domain = 'docs') AS docs FROM selection_code JOIN docs USING (id)")
    assert picked.to_pylist() == [{"n": 50, "docs": 0}]


@pytest.fixture(scope="module")
def planted_semantic(tmp_path_factory):
    """Real pages, every 4th followed by a lightly edited copy (1-3% of words replaced)."""
    root = tmp_path_factory.mktemp("semantic")
    rng = random.Random(3)
    docs, twins = [], {}
    for i, page in enumerate(pages(800)):
        docs.append(page)
        if i % 4 == 0:
            twins[len(docs)] = len(docs) - 1
            docs.append(planted_variant(page, rng.choice(["edit-1%", "edit-3%"]), rng))
    write_jsonl(root / "docs.jsonl", [{"id": f"p{i}", "text": t} for i, t in enumerate(docs)])
    run(str(root / "c"), IngestConfig(inputs=[InputSpec(str(root / "docs.jsonl"))], shard_size=250))
    return str(root / "c"), docs, twins


def _semdedup_reference(corpus: Corpus, config: SemdedupConfig) -> list[dict]:
    """The single-node SemDeDup: every vector in memory, compared inside each level-1 cluster."""
    parts = corpus.parts("docs")
    ids = np.concatenate([read_vectors(corpus, part, np.float16)[0].to_numpy() for part in parts])
    vectors = np.concatenate([read_vectors(corpus, part, np.float16)[1] for part in parts])
    labels = corpus.sql("SELECT level_1 FROM clusters")["level_1"].to_numpy().astype(np.int64)
    similarity, duplicate_of = np.full(len(ids), np.nan, np.float32), np.full(len(ids), -1)
    order = np.argsort(labels, kind="stable")
    for members in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        cluster = vectors[members].astype(np.float32)
        centroid = cluster.mean(axis=0)
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        ranked = members[keep_order(1 - cluster @ centroid, config.keep, np.random.default_rng())]
        best, which = max_earlier_similarity(vectors[ranked].astype(np.float32))
        similarity[ranked[1:]], duplicate_of[ranked[1:]] = best[1:], ranked[which[1:]]
    keep = ~(similarity > 1 - config.eps[0])
    return [{"id": ids[i], "cluster": int(labels[i]), "max_similarity": None if np.isnan(similarity[i]) else float(similarity[i]),
             "keep": bool(keep[i]), "duplicate_of": None if keep[i] else ids[duplicate_of[i]],
             "reason": None if keep[i] else f"eps_{config.eps[0]}"} for i in range(len(ids))]


@pytest.mark.parametrize("keep", ["hard", "easy"])
def test_semdedup_in_any_number_of_buckets_gives_the_single_node_answer(planted_semantic, keep):
    """1,000 documents in 4 parts, 40 level-1 clusters: one bucket and 10 (each cut into slices
    by cost) give the same attrs files, and their rows are those of SemDeDup over every vector in
    one process."""
    corpus_dir, _, _ = planted_semantic
    run(corpus_dir, EmbedConfig())
    run(corpus_dir, ClustersConfig(k=(40, 8)))
    corpus, outputs = Corpus.open(corpus_dir), []
    for partition_rows in (1_000_000, 100):
        corpus.forget_stages(["semdedup"])
        record = run(corpus_dir, SemdedupConfig(eps=(0.05, 0.2), keep=keep, partition_rows=partition_rows))
        assert record.details["buckets"] == -(-1_000 // partition_rows) and record.details["clusters_from"] == "cluster stage level 1"
        assert record.details["slices"] > record.details["buckets"]
        outputs.append({part: open(corpus.part_path("attrs/semdedup", part), "rb").read() for part in corpus.parts("docs")})
    assert outputs[0] == outputs[1]
    rows = corpus.sql("SELECT * FROM semdedup").to_pylist()
    reference = _semdedup_reference(corpus, SemdedupConfig(eps=(0.05,), keep=keep))
    assert [{k: v for k, v in row.items() if k != "max_similarity"} for row in rows] == \
           [{k: v for k, v in row.items() if k != "max_similarity"} for row in reference]
    assert [row["max_similarity"] for row in rows] == pytest.approx([row["max_similarity"] for row in reference], abs=1e-6)
    assert 100 < sum(not row["keep"] for row in rows) < 400


def test_semdedup_removes_planted_near_duplicates_and_keeps_unrelated_documents(planted_semantic):
    corpus_dir, docs, twins = planted_semantic
    run(corpus_dir, EmbedConfig())
    Corpus.open(corpus_dir).forget_stages(["clusters"])  # SemDeDup's own spherical k-means
    record = run(corpus_dir, SemdedupConfig(eps=(0.05, 0.2), clusters=8))
    assert record.details["clusters_from"] == "spherical k-means, k=8"
    rows = {r["id"]: r for r in Corpus.open(corpus_dir).sql("SELECT * FROM semdedup").to_pylist()}
    pair_removed = [not rows[f"p{a}"]["keep"] or not rows[f"p{b}"]["keep"] for a, b in twins.items()]
    assert np.mean(pair_removed) >= 0.95
    in_pairs = set(twins) | set(twins.values())
    unrelated = [i for i in range(len(docs)) if i not in in_pairs]
    assert np.mean([rows[f"p{i}"]["keep"] for i in unrelated]) >= 0.97
    removed = [r for r in rows.values() if not r["keep"]]
    assert all(r["max_similarity"] > 0.95 and rows[r["duplicate_of"]]["cluster"] == r["cluster"] for r in removed)
    report = Corpus.open(corpus_dir).sql(report_sql("semdedup")).to_pylist()
    assert sum(r["removed"] for r in report) <= len(removed) and report[0]["removed_text"] and report[0]["similar_to_text"]
    kept = record.details["kept_fraction_by_eps"]
    assert kept["0.2"] <= kept["0.05"] and record.rows_out == sum(r["keep"] for r in rows.values())


def test_max_earlier_similarity_equals_the_dense_rule():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    best, which = max_earlier_similarity(x, cells=37 * 300)
    dense = np.triu(x @ x.T, k=1)  # i < j
    dense[np.tril_indices(300)] = -np.inf
    assert np.allclose(best[1:], dense.max(axis=0)[1:], atol=1e-5) and (which[1:] == dense.argmax(axis=0)[1:]).all()


def test_slices_of_the_similarity_blocks_cover_each_row_once_and_give_the_whole_answer():
    """A bucket's clusters cut into slices of about equal cost: every block and every first
    document in exactly one slice, and the slices' rows merged equal one pass over each cluster."""
    rng = np.random.default_rng(5)
    sizes = [1, 700, 3, 1, 90, 2]
    clusters = [rng.standard_normal((n, 8)).astype(np.float32) for n in sizes]
    clusters = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in clusters]
    cuts = 5
    cells = 4_000  # blocks of a few rows, so the 700-document cluster is cut
    owners = slice_owners(sizes, cuts, cells)
    costs = [0] * cuts
    for x, (first, owned) in zip(clusters, owners, strict=True):
        assert [block for block, _ in owned] == similarity_blocks(len(x), cells)
        assert not owned or first == owned[0][1]
        whole = max_earlier_similarity(x, cells)
        merged_best, merged_which = np.full(len(x), -np.inf, np.float32), np.full(len(x), -1)
        for piece in range(cuts):
            ours = [block for block, owner in owned if owner == piece]
            best, which = max_earlier_similarity(x, cells, blocks=ours)
            for start, stop in ours:
                merged_best[start:stop], merged_which[start:stop] = best[start:stop], which[start:stop]
                costs[piece] += (stop - start) * stop
        assert np.array_equal(merged_best, whole[0]) and np.array_equal(merged_which, whole[1])
    assert max(costs) < 2 * sum(costs) / cuts  # 700 documents cut across slices, not in one


def test_same_seed_same_clusters_and_selection(planted_semantic):
    corpus_dir = planted_semantic[0]
    run(corpus_dir, EmbedConfig())
    run(corpus_dir, ClustersConfig(k=(20, 4), seed=9))
    corpus = Corpus.open(corpus_dir)
    first = corpus.sql("SELECT * FROM clusters ORDER BY id").to_pylist()
    select_balanced(corpus_dir, "again", SelectionConfig(balanced=200, seed=4))
    chosen = corpus.sql("SELECT * FROM selection_again ORDER BY id").to_pylist()
    corpus.forget_stages(["clusters"])
    run(corpus_dir, ClustersConfig(k=(20, 4), seed=9))
    select_balanced(corpus_dir, "again", SelectionConfig(balanced=200, seed=4))
    assert corpus.sql("SELECT * FROM clusters ORDER BY id").to_pylist() == first
    assert corpus.sql("SELECT * FROM selection_again ORDER BY id").to_pylist() == chosen


def test_stages_say_what_is_missing(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "text": "a few words"}])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "x.jsonl"))]))
    with pytest.raises(UserError, match="no embeddings yet"):
        run(str(tmp_path / "c"), ClustersConfig())
    result = subprocess.run([*CURATE, "select", "s", str(tmp_path / "c"), "--balanced", "5"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "run `curate embed" in result.stderr and result.stderr.count("\n") == 1
    result = subprocess.run([*CURATE, "embed", str(tmp_path / "c"), "--encoder", "nope"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown encoder 'nope'" in result.stderr


# -- encoders -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hashing", "static", "minilm", "a model directory"])
def test_encoders_put_a_light_edit_nearer_than_another_text(name):
    texts = pages(60)
    rng = random.Random(1)
    if name == "hashing":
        from curation.embed.hashing import HashingEncoder

        encoder = HashingEncoder().fit(texts)
    else:
        encoder = load_encoder(minilm_path() if name == "a model directory" else name)
    vectors = encoder.encode(texts + [planted_variant(texts[0], "edit-3%", rng)])
    assert vectors.dtype == np.float32 and vectors.shape == (61, encoder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    similarity = vectors @ vectors[-1]
    assert similarity[0] > 0.9 and similarity[0] > similarity[1:60].max()


def test_the_static_encoder_gives_model2vecs_vectors_from_one_sparse_product():
    encoder = load_encoder("static")
    texts = pages(300, chars=2500) + ["", "   ", "\u4e2d\u6587 only", "x" * 20_000]
    ours, theirs = encoder.encode(texts), normalized(encoder.model.encode(texts, show_progress_bar=False))
    # model2vec averages in float16, ours in float32: equal up to float16's rounding.
    assert np.abs(ours - theirs).max() < 2e-3 and (ours[:300] * theirs[:300]).sum(axis=1).min() > 0.9999
    assert not ours[300:302].any()  # no tokens: the zero vector, as model2vec gives


def test_embed_flow_on_dask_equals_plain_and_resumes_after_sigkill(tmp_path, dask_address):
    from flows.stage import run_flow

    texts = pages(2400, chars=600)
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"e{i}", "text": t} for i, t in enumerate(texts)])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=100))
    command = [*CURATE, "embed", corpus_dir, "--encoder", "hashing", "--workers", "1"]
    kill_once_staged(command, tmp_path / "c" / ".staging", "embed-*/out/part-*.parquet", count=2)
    assert Corpus.open(corpus_dir).stage("embed") is None, "killed too late"
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    corpus = Corpus.open(corpus_dir)
    resumed = [read_vectors(corpus, part)[1] for part in corpus.parts("embeddings")]

    corpus.forget_stages(["embed"])
    run_flow(corpus_dir, EmbedConfig(), dask_address)
    on_dask = [read_vectors(corpus, part)[1] for part in corpus.parts("embeddings")]
    assert len(on_dask) == 24 and all((a == b).all() for a, b in zip(resumed, on_dask, strict=True))
    ids = pa.concat_arrays([read_vectors(corpus, p)[0].combine_chunks() for p in corpus.parts("embeddings")])
    assert ids.to_pylist() == corpus.sql("SELECT id FROM docs")["id"].to_pylist()
