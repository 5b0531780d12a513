"""Fuzzy dedup: planted near-duplicates of known Jaccard on real text, the short-document rule,
keep policies, scope, components, the Dask flow, and resuming after a SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import CURATE, kill_once_staged, stdlib_texts, write_jsonl
from distributed.diagnostics.plugin import WorkerPlugin
from near_duplicates import VARIANT_KINDS, jaccard, pair_scores, planted_variant, shingle_sets, true_pairs

from curation import Corpus
from curation.errors import UserError
from curation.fingerprint import fingerprint
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.minhash.clusters import representatives
from curation.minhash.components import large_star, small_star
from curation.minhash.shingles import shingle_hashes
from curation.minhash.signatures import MinHashParams, band_keys, bands_rows_for, candidate_probability, minhash_signatures
from curation.minhash.stage import MinhashConfig
from curation.stage import in_this_process, run


def real_pages(count: int, chars: int = 1500) -> list[str]:
    """Pieces of real prose and code of about ``chars`` characters."""
    pages = []
    for _, text in stdlib_texts(400, min_chars=chars):
        pages += [text[i : i + chars] for i in range(0, len(text) - chars, chars)]
    assert len(pages) >= count
    return pages[:count]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """600 real pages; every 3rd has one planted variant of a known kind."""
    root = tmp_path_factory.mktemp("fuzzy")
    rng = random.Random(7)
    docs, families, kinds = [], [], {}
    for i, page in enumerate(real_pages(600)):
        family = [len(docs)]
        docs.append(page)
        if i % 3 == 0:
            kind = VARIANT_KINDS[(i // 3) % len(VARIANT_KINDS)]
            kinds[len(docs)] = kind
            family.append(len(docs))
            docs.append(planted_variant(page, kind, rng))
        families.append(family)
    write_jsonl(root / "docs.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(docs)])
    run(str(root / "corpus"), IngestConfig(inputs=[InputSpec(str(root / "docs.jsonl"))], shard_size=150))
    return str(root / "corpus"), docs, families, kinds


def outcome(corpus_dir: str, count: int) -> tuple[list[int], list[bool], dict]:
    rows = Corpus.open(corpus_dir).sql("SELECT id, cluster_id, keep, duplicate_of, similarity FROM minhash").to_pylist()
    cluster_of, kept = [0] * count, [True] * count
    for row in rows:
        doc = int(row["id"][1:])
        cluster_of[doc], kept[doc] = int(row["cluster_id"][1:]), row["keep"]
    return cluster_of, kept, {r["id"]: r for r in rows}


def test_planted_near_duplicates_are_found_with_high_precision_and_recall(planted):
    corpus_dir, docs, families, kinds = planted
    record = run(corpus_dir, MinhashConfig())
    cluster_of, kept, rows = outcome(corpus_dir, len(docs))
    scores = pair_scores(true_pairs(shingle_sets(docs)), cluster_of, kept)
    assert scores.precision >= 0.99 and scores.recall >= 0.95, scores.line()
    assert scores.unique_removed == 0  # exact verification: nothing removed without a true twin
    # Identical texts always share a cluster, and the first in corpus order is kept.
    for doc, kind in kinds.items():
        if kind == "exact":
            assert rows[f"d{doc}"]["duplicate_of"] == f"d{doc - 1}" and rows[f"d{doc}"]["similarity"] == 1.0
        if kind in ("edit-8%", "edit-25%"):
            assert rows[f"d{doc}"]["keep"]  # far below the threshold: never merged
    assert record.rows_in == len(docs) and record.rows_in - record.rows_out == sum(not k for k in kept)


def test_estimated_verification_is_close_but_exact_is_stricter(planted, tmp_path):
    corpus_dir, docs, families, _ = planted
    run(corpus_dir, MinhashConfig(verify="estimate"))
    cluster_of, kept, _ = outcome(corpus_dir, len(docs))
    scores = pair_scores(true_pairs(shingle_sets(docs)), cluster_of, kept)
    assert scores.precision >= 0.9 and scores.recall >= 0.9, scores.line()


def test_keep_longest_and_best_score_choose_the_survivor(planted):
    corpus_dir, docs, _, kinds = planted
    corpus = Corpus.open(corpus_dir)
    boilerplate = next(doc for doc, kind in kinds.items() if kind == "boilerplate")  # longer than its original
    run(corpus_dir, MinhashConfig(keep="longest"))
    _, _, rows = outcome(corpus_dir, len(docs))
    assert rows[f"d{boilerplate}"]["keep"] and rows[f"d{boilerplate - 1}"]["duplicate_of"] == f"d{boilerplate}"

    # A score from another stage's attrs: higher wins. Here the score prefers later documents.
    for part in corpus.parts("docs"):
        ids = corpus.read_part("docs", part, ["id"])["id"]
        score = pa.array([float(i[1:]) for i in ids.to_pylist()])
        corpus.write_part("attrs/quality", part, pa.table({"id": ids, "score": score}))
    run(corpus_dir, MinhashConfig(keep="best:quality.score"))
    _, _, rows = outcome(corpus_dir, len(docs))
    exact = next(doc for doc, kind in kinds.items() if kind == "exact")
    assert rows[f"d{exact}"]["keep"] and rows[f"d{exact - 1}"]["duplicate_of"] == f"d{exact}"
    with pytest.raises(UserError, match="no column 'nope'"):
        run(corpus_dir, MinhashConfig(keep="best:quality.nope"))
    corpus.remove_table("attrs/quality")


def test_short_and_empty_documents_follow_the_rule(tmp_path):
    texts = ["one two three", "One, two; three!", "one two four", "!!! ... ???", "", "   ", "a b c d e f g",
             "word"] + [page for page in real_pages(5)]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"s{i}", "text": t} for i, t in enumerate(texts) if t.strip()])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    run(str(tmp_path / "c"), MinhashConfig())
    rows = {r["id"]: r for r in Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM minhash").to_pylist()}
    # Fewer words than the n-gram size: one shingle of all words, so equal word sequences match.
    assert rows["s1"]["duplicate_of"] == "s0" and rows["s2"]["keep"]
    # No words at all (only punctuation): kept, never a duplicate of anything.
    assert rows["s3"]["keep"] and rows["s3"]["cluster_size"] == 1


def test_true_pairs_by_prefix_filtering_equal_brute_force():
    rng = random.Random(2)
    pages = real_pages(60)
    docs = pages + [planted_variant(p, rng.choice(VARIANT_KINDS), rng) for p in pages[:30]]
    sets = shingle_sets(docs)
    brute = {(a, b) for a in range(len(docs)) for b in range(a + 1, len(docs)) if jaccard(sets[a], sets[b]) >= 0.8}
    assert true_pairs(sets) == brute and len(brute) >= 10


def test_same_text_same_signature_whatever_the_batch():
    params = MinHashParams()
    texts = real_pages(20)
    hashes, offsets = shingle_hashes(pa.array(texts), 5)
    together = minhash_signatures(hashes, offsets, params)
    alone = minhash_signatures(*shingle_hashes(pa.array(texts[7:8]), 5), params)
    assert (together[7] == alone[0]).all()
    other_seed = minhash_signatures(hashes, offsets, MinHashParams(seed=2))
    assert not (together == other_seed).all()


def test_band_choice_for_a_threshold():
    assert candidate_probability(0.8, 14, 8) == pytest.approx(0.924, abs=0.001)
    assert bands_rows_for(0.8, 112, false_positive_weight=0.05) == (14, 8)  # FineWeb's choice
    assert bands_rows_for(0.8, 112, false_positive_weight=0.5) == (9, 12)  # precision-first: misses pairs at 0.8
    assert (MinhashConfig(num_perm=112).bands, MinhashConfig(num_perm=112).rows) == (14, 8)
    bands, rows = MinhashConfig(threshold=0.7, num_perm=128).bands, MinhashConfig(threshold=0.7, num_perm=128).rows
    assert bands * rows <= 128 and candidate_probability(0.7, bands, rows) > 0.9 > candidate_probability(0.4, bands, rows) * 10
    with pytest.raises(ValueError, match="num_perm or bands and rows"):
        MinhashConfig(num_perm=64, bands=4)


def bfs_labels(nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each node's component, labelled by its smallest node, by breadth-first search."""
    neighbours = [[] for _ in range(nodes)]
    for a, b in zip(u.tolist(), v.tolist(), strict=True):
        neighbours[a].append(b)
        neighbours[b].append(a)
    labels = np.full(nodes, -1)
    for start in range(nodes):
        if labels[start] < 0:
            frontier, seen = [start], {start}
            while frontier:
                frontier = [n for q in frontier for n in neighbours[q] if n not in seen and not seen.add(n)]
            labels[list(seen)] = min(seen)
    return labels


def star_labels(nodes: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, int]:
    """large-star and small-star alternated over the whole edge set until a large-star round
    sees the edges of the one before; each node's label, and the rounds it took."""
    def once(node, neighbour):
        order = np.lexsort((neighbour, node))
        pairs = np.unique(np.stack([node[order], neighbour[order]], axis=1), axis=0)
        return pairs[:, 0], pairs[:, 1]

    node, neighbour = once(np.concatenate([u, v]), np.concatenate([v, u]))
    previous, rounds = None, 0
    while previous is None or not np.array_equal(previous, np.stack([node, neighbour])):
        previous = np.stack([node, neighbour])
        larger, smallest = once(*large_star(node, neighbour))
        a, m = small_star(larger, smallest)
        node, neighbour = once(np.concatenate([a, m]), np.concatenate([m, a]))
        rounds += 2
    labels = np.arange(nodes)
    np.minimum.at(labels, node, neighbour)
    return labels, rounds


def test_star_rounds_label_every_component_by_its_smallest_node():
    rng = np.random.default_rng(3)
    for nodes, u, v in random_graphs(rng):
        u, v = u[u != v], v[u != v]  # verified pairs are never a document with itself
        labels, rounds = star_labels(nodes, u, v)
        assert (labels == bfs_labels(nodes, u, v)).all() and rounds < 60, rounds
        assert len(np.unique(labels)) < nodes  # there was something to join


def test_scope_source_only_compares_documents_of_one_source(tmp_path):
    page = real_pages(1)[0]
    write_jsonl(tmp_path / "a.jsonl", [{"id": "a1", "text": page}, {"id": "a2", "text": page + " extra words"}])
    write_jsonl(tmp_path / "b.jsonl", [{"id": "b1", "text": page}])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "a.jsonl")), InputSpec(str(tmp_path / "b.jsonl"))]))
    run(str(tmp_path / "c"), MinhashConfig(scope="source"))
    rows = {r["id"]: r for r in Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM minhash").to_pylist()}
    assert rows["a2"]["duplicate_of"] == "a1" and rows["b1"]["keep"]
    run(str(tmp_path / "c"), MinhashConfig(scope="global"))
    rows = {r["id"]: r for r in Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM minhash").to_pylist()}
    assert rows["b1"]["duplicate_of"] == "a1"


def test_flow_on_dask_matches_plain_python(planted, dask_address):
    from flows.stage import run_flow

    corpus_dir, docs, _, _ = planted
    run(corpus_dir, MinhashConfig(seed=5))
    plain = outcome(corpus_dir, len(docs))[2]
    run_flow(corpus_dir, MinhashConfig(seed=5, ngram=4), dask_address)
    run_flow(corpus_dir, MinhashConfig(seed=5), dask_address)
    assert outcome(corpus_dir, len(docs))[2] == plain


def test_sigkill_during_the_candidates_then_a_rerun_resumes_from_the_finished_buckets(tmp_path):
    """The driver and its workers SIGKILLed while the candidate tasks run: the rerun runs only
    the candidate tasks that had not finished, and the steps after them, and gives the attrs of
    an uninterrupted run."""
    pages, copies, rows = real_pages(1200, chars=1200), 150, 1000
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"k{i}", "text": p} for i, p in enumerate(pages + pages[:copies])])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=150))
    corpus_dir, staging = str(tmp_path / "c"), tmp_path / "c" / ".staging"
    command = [*CURATE, "dedup", corpus_dir, "--fuzzy", "--workers", "1", "--fuzzy-partition-rows", str(rows)]
    kill_once_staged(command, staging, "minhash-*/finished/find-candidates/*", count=3)
    buckets = -(-(len(pages) + copies) * 14 // rows)
    marks = {path.name for path in staging.glob("minhash-*/finished/find-candidates/*")}
    finished = {bucket for bucket in range(buckets) if fingerprint(bucket) in marks}
    assert 3 <= len(finished) == len(marks) < buckets, "killed too late"

    ran = []

    def recording(step, stage_plan, items):
        ran.extend((step.name, item) for item in items)
        yield from in_this_process(step, stage_plan, items)

    run(corpus_dir, MinhashConfig(partition_rows=rows), recording)
    assert {item for name, item in ran if name == "find-candidates"} == set(range(buckets)) - finished
    assert not [name for name, _ in ran if name in ("signature-part", "shuffle-bands")]
    resumed = Corpus.open(corpus_dir).sql("SELECT * FROM minhash ORDER BY id").to_pylist()

    Corpus.open(corpus_dir).forget_stages(["minhash"])
    run(corpus_dir, MinhashConfig())
    assert Corpus.open(corpus_dir).sql("SELECT * FROM minhash ORDER BY id").to_pylist() == resumed
    by_id = {r["id"]: r for r in resumed}
    assert all(by_id[f"k{len(pages) + i}"]["duplicate_of"] == f"k{i}" for i in range(copies))  # every planted copy


class KillAfter(WorkerPlugin):
    """SIGKILL the worker's process right after it finishes its first task of ``step``, before
    the scheduler hears of it: Dask runs the task again elsewhere, over the outputs it left.
    ``marker`` makes it once, across the worker its nanny restarts."""

    def __init__(self, step: str, marker: str):
        self.step, self.marker = step, marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "memory" and str(key).startswith(f"minhash-{self.step}-") and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("step", ["find-candidates", "verify", "star-round"])
def test_a_worker_killed_in_a_global_task_leaves_the_same_attrs(planted, tmp_path, step):
    from distributed import Client

    from flows.runtime import local_cluster, on_cluster

    corpus_dir, docs, _, _ = planted
    config = MinhashConfig(partition_rows=200)
    Corpus.open(corpus_dir).forget_stages(["minhash"])
    run(corpus_dir, config)
    plain = outcome(corpus_dir, len(docs))[2]
    Corpus.open(corpus_dir).forget_stages(["minhash"])
    with local_cluster(2, prefect=False) as cluster, Client(cluster) as client:
        client.register_plugin(KillAfter(step, str(tmp_path / "killed")))
        run(corpus_dir, config, on_cluster(client))
    assert (tmp_path / "killed").exists()
    assert outcome(corpus_dir, len(docs))[2] == plain


def random_graphs(rng: np.random.Generator):
    """Sparse and dense random graphs, and long paths in sorted, reversed and shuffled order
    (the worst cases for label propagation)."""
    for nodes, edges in ((50, 30), (500, 400), (2000, 2500), (5000, 20000)):
        yield nodes, rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
    for order in (np.arange(3000), np.arange(3000)[::-1], rng.permutation(3000)):
        yield 3000, order[:-1], order[1:]


def fuzzy_reference(corpus_dir: str, config: MinhashConfig) -> dict[str, dict]:
    """Fuzzy dedup in one process, every table in memory: candidates from a dictionary of band
    keys (each bucket's members to its first and to the one before), verification, components
    by breadth-first search, and representatives."""
    corpus, params = Corpus.open(corpus_dir), config.params
    docs = corpus.sql("SELECT id, text FROM docs")
    ids, texts = docs["id"].to_pylist(), docs["text"].combine_chunks()
    hashes, offsets = shingle_hashes(texts, params.ngram)
    full = minhash_signatures(hashes, offsets, params)
    signatures = full.astype(np.uint16)
    sets = [set((hashes[offsets[i]:offsets[i + 1]] & np.uint64(0xFFFFFFFF)).tolist()) for i in range(len(ids))]
    buckets = {}
    for doc, keys in zip(np.flatnonzero(np.diff(offsets) > 0), band_keys(full[np.diff(offsets) > 0], params), strict=True):
        for band, key in enumerate(keys.tolist()):
            buckets.setdefault((band, key), []).append(int(doc))
    pairs = {(m[0], d) for m in buckets.values() for d in m[1:]} | {(a, b) for m in buckets.values() for a, b in zip(m[1:], m[2:], strict=False)}

    def similarity(a: int, b: int) -> float:
        estimate = float(np.mean(signatures[a] == signatures[b]))
        if config.verify == "estimate" or estimate < config.threshold - 0.15:
            return estimate
        return len(sets[a] & sets[b]) / len(sets[a] | sets[b])

    edges = [(a, b) for a, b in sorted(pairs) if similarity(a, b) >= config.threshold]
    labels = bfs_labels(len(ids), np.array([a for a, _ in edges], int), np.array([b for _, b in edges], int))
    exact = config.verify == "exact"
    kept_by, near = representatives(labels, np.arange(len(ids)),
                                    lambda d, others: np.array([similarity(d, o) if not exact else
                                                                len(sets[d] & sets[o]) / len(sets[d] | sets[o]) for o in others]),
                                    config.threshold)
    sizes = np.bincount(kept_by, minlength=len(ids))
    return {ids[d]: {"id": ids[d], "cluster_id": ids[kept_by[d]], "cluster_size": int(sizes[kept_by[d]]),
                     "keep": bool(kept_by[d] == d), "duplicate_of": None if kept_by[d] == d else ids[kept_by[d]]}
            for d in range(len(ids))}


@pytest.mark.parametrize("config", [MinhashConfig(seed=3), MinhashConfig(verify="estimate", threshold=0.7)],
                         ids=["exact", "estimate"])
def test_partitioned_steps_give_the_single_node_answer(planted, config):
    """One band bucket and one edge partition, or 56 buckets and 4 partitions: the same keep,
    duplicate_of and cluster of every document, those of fuzzy dedup in one process."""
    corpus_dir, docs, _, _ = planted
    columns = ("id", "cluster_id", "cluster_size", "keep", "duplicate_of")
    outcomes = []
    for partition_rows in (2_000_000, 200):
        Corpus.open(corpus_dir).forget_stages(["minhash"])
        record = run(corpus_dir, config.model_copy(update={"partition_rows": partition_rows}))
        assert record.details["band_buckets"] == -(-len(docs) * config.bands // partition_rows)
        rows = Corpus.open(corpus_dir).sql(f"SELECT {', '.join(columns)} FROM minhash").to_pylist()
        outcomes.append({row["id"]: row for row in rows})
    assert outcomes[0] == outcomes[1] == fuzzy_reference(corpus_dir, config)
    assert sum(not row["keep"] for row in outcomes[0].values()) > 50



def test_a_candidate_task_reads_about_partition_rows_band_rows(planted):
    """800 documents x 14 bands with partition_rows=1000: 12 band buckets, none over twice its
    share, every band row in exactly one."""
    import pyarrow.parquet as pq

    corpus_dir = planted[0]
    read = {}

    def recording(step, plan, items):
        if step.name == "find-candidates":
            for bucket in items:
                files = plan.corpus.fs.glob(f"{plan.staging}/banded/{bucket}/*.parquet")
                read[bucket] = sum(pq.read_metadata(plan.corpus.fs.open(path, "rb")).num_rows for path in files)
        yield from in_this_process(step, plan, items)

    Corpus.open(corpus_dir).forget_stages(["minhash"])
    run(corpus_dir, MinhashConfig(partition_rows=1000), recording)
    assert sorted(read) == list(range(12)) and sum(read.values()) == 800 * 14
    assert max(read.values()) <= 2000

def incremental_corpora(root) -> tuple[list[dict], list[dict]]:
    """OLD: real pages, some with near-duplicates among themselves. NEW: fresh pages, copies
    and near-duplicates of OLD pages, and near-duplicates among the new ones."""
    rng = random.Random(5)
    pages = real_pages(500)
    old = [{"id": f"o{i}", "text": page} for i, page in enumerate(pages[:250])]
    old += [{"id": f"o{250 + i}", "text": planted_variant(pages[i], rng.choice(VARIANT_KINDS), rng)} for i in range(0, 250, 5)]
    new = [{"id": f"n{i}", "text": page} for i, page in enumerate(pages[250:])]
    new += [{"id": f"n{250 + i}", "text": planted_variant(pages[i], rng.choice(VARIANT_KINDS), rng)} for i in range(0, 250, 3)]
    new += [{"id": f"n{500 + i}", "text": planted_variant(pages[250 + i], rng.choice(VARIANT_KINDS), rng)} for i in range(0, 250, 7)]
    write_jsonl(root / "old.jsonl", old)
    write_jsonl(root / "new.jsonl", new)
    return old, new


def test_incremental_dedup_against_old_equals_dedup_of_old_and_new_together(tmp_path):
    old, new = incremental_corpora(tmp_path)
    options = dict(shard_size=120)
    run(str(tmp_path / "old"), IngestConfig(inputs=[InputSpec(str(tmp_path / "old.jsonl"))], **options))
    run(str(tmp_path / "new"), IngestConfig(inputs=[InputSpec(str(tmp_path / "new.jsonl"))], **options))
    run(str(tmp_path / "both"), IngestConfig(inputs=[InputSpec(str(tmp_path / "old.jsonl")), InputSpec(str(tmp_path / "new.jsonl"))], **options))
    both = Corpus.open(str(tmp_path / "both"))
    assert both.sql("SELECT id FROM docs")["id"].to_pylist() == [d["id"] for d in old + new]  # OLD first

    config = MinhashConfig(keep="longest")
    run(str(tmp_path / "old"), config)
    old_model = sorted(p.name for p in (tmp_path / "old" / "models" / "minhash" / "bands").iterdir())
    run(str(tmp_path / "both"), config)
    record = run(str(tmp_path / "new"), config.model_copy(update={"against": str(tmp_path / "old")}))

    together = {r["id"]: r for r in both.sql("SELECT * FROM minhash WHERE id LIKE 'n%'").to_pylist()}
    incremental = {r["id"]: r for r in Corpus.open(str(tmp_path / "new")).sql("SELECT * FROM minhash").to_pylist()}
    assert incremental == together
    removed = [r for r in incremental.values() if not r["keep"]]
    assert record.rows_in - record.rows_out == len(removed)
    assert any(r["duplicate_of"].startswith("o") for r in removed) and any(r["duplicate_of"].startswith("n") for r in removed)
    # OLD's signatures were read, not recomputed: its model is untouched.
    assert sorted(p.name for p in (tmp_path / "old" / "models" / "minhash" / "bands").iterdir()) == old_model


def test_against_errors_are_clear(tmp_path, planted):
    corpus_dir = planted[0]
    write_jsonl(tmp_path / "x.jsonl", [{"id": "x", "text": "some words that stand alone here"}])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "x.jsonl"))]))
    with pytest.raises(UserError, match="has no MinHash tables"):
        run(str(tmp_path / "c"), MinhashConfig(against=str(tmp_path / "c")))
    run(corpus_dir, MinhashConfig())
    with pytest.raises(UserError, match="other settings .*ngram 5 there, 4 here"):
        run(str(tmp_path / "c"), MinhashConfig(ngram=4, against=corpus_dir))
    with pytest.raises(UserError, match="names the corpus being deduplicated"):
        Corpus.open(str(tmp_path / "c"))  # a corpus with a model, then against itself
        run(str(tmp_path / "c"), MinhashConfig())
        run(str(tmp_path / "c"), MinhashConfig(against=str(tmp_path / "c")))
    result = subprocess.run([*CURATE, "dedup", str(tmp_path / "c"), "--fuzzy", "--against", str(tmp_path / "nowhere")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "is not a corpus" in result.stderr
