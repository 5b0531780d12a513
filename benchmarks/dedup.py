"""Fuzzy dedup benchmark: planted near-duplicates of known Jaccard in real text, curation beside
datatrove's MinHash pipeline, datasketch's MinHashLSH and rensa, 2 workers each.

    python benchmarks/dedup.py --docs 20000 --peers-python /path/to/venv/bin/python
    python benchmarks/dedup.py --docs 1000000 --only curation      # scale: time and memory

Documents are ~1,600-character pages of the Debian text the demo uses (scripts/fetch-demo-data);
every 10th page gets one variant of a kind in VARIANT_KINDS (exact copy, word edits at 1-25%,
boilerplate around it, paragraphs shuffled). When the real pages run out (large --docs), further
pages are spliced from random real paragraphs.

Scored as the issue asks: positives are all pairs of the corpus with exact word 5-gram Jaccard
>= 0.8 (found by prefix filtering, planted or natural); precision
counts every pair inside a reported cluster; also unique documents removed (no true twin) and
true pairs left with both documents kept. Each method runs in its own process; peak RSS
counts all its processes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
from common import HERE, measure
from near_duplicates import VARIANT_KINDS, pair_scores, planted_variant, shingle_sets, true_pairs, web_variant, word_sets

from curation.demo.build import DEFAULT_DATA_DIR, check_data
from curation.demo.sources import linux_docs, python_docs, sqlite_site

FILES = 8
PAGE = 1600

DATATROVE = r"""
import json, sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
if __name__ == "__main__":
    data, work = sys.argv[1], sys.argv[2]
    config = MinhashConfig()  # FineWeb: 5-grams, 14 buckets x 8 hashes
    read = lambda: JsonlReader(data, glob_pattern="*.jsonl")
    LocalPipelineExecutor([read(), MinhashDedupSignature(f"{work}/sigs", config=config)], tasks=2, workers=2, logging_dir=f"{work}/l1").run()
    LocalPipelineExecutor([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=config)], tasks=14, workers=2, logging_dir=f"{work}/l2").run()
    LocalPipelineExecutor([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=config, save_cluster_id=True)], tasks=1, logging_dir=f"{work}/l3").run()
    LocalPipelineExecutor([read(), MinhashDedupFilter(f"{work}/remove", exclusion_writer=JsonlWriter(f"{work}/removed"), load_cluster_ids=True),
                           JsonlWriter(f"{work}/kept")], tasks=2, workers=2, logging_dir=f"{work}/l4").run()
"""

SKETCH = r"""
import json, sys, glob
from multiprocessing import Pool

def shingles(text, n=5):
    words = text.lower().split()
    return {" ".join(words[i:i + n]).encode() for i in range(max(len(words) - n + 1, 1))}

def signature(text):
    if KIND == "datasketch":
        from datasketch import MinHash
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles(text)))
        return m
    from rensa import RMinHash
    m = RMinHash(num_perm=128, seed=42)
    m.update([s.decode() for s in shingles(text)])
    return m

KIND = sys.argv[1]
if __name__ == "__main__":
    data, out = sys.argv[2], sys.argv[3]
    texts = [json.loads(line)["text"] for f in sorted(glob.glob(f"{data}/*.jsonl")) for line in open(f)]
    with Pool(2) as pool:
        signatures = pool.map(signature, texts, chunksize=256)
    if KIND == "datasketch":
        from datasketch import MinHashLSH
        lsh = MinHashLSH(threshold=0.8, num_perm=128)
    else:
        from rensa import RMinHashLSH
        lsh = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
    for i, m in enumerate(signatures):
        lsh.insert(i, m) if KIND == "rensa" else lsh.insert(str(i), m)
    parent = list(range(len(texts)))
    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]; x = parent[x]
        return x
    for i, m in enumerate(signatures):
        for j in lsh.query(m):
            a, b = find(i), find(int(j))
            if a != b: parent[max(a, b)] = min(a, b)
    cluster = [find(i) for i in range(len(texts))]
    json.dump({"cluster": cluster, "kept": [c == i for i, c in enumerate(cluster)]}, open(out, "w"))
"""


def page_stream(seed: int = 0) -> Iterator[str]:
    """PAGE-character pages of the demo's real text, then pages spliced from its paragraphs in
    new combinations, without end."""
    check_data(DEFAULT_DATA_DIR)
    root = DEFAULT_DATA_DIR / "root"
    paragraphs = []
    for _, text in [*linux_docs(root), *python_docs(root), *sqlite_site(root)]:
        for i in range(0, len(text) - PAGE, PAGE):
            yield text[i : i + PAGE]
            paragraphs += [p for p in text[i : i + PAGE].split("\n\n") if len(p) > 80]
    rng = random.Random(seed)
    while True:
        spliced = ""
        while len(spliced) < PAGE:
            spliced += rng.choice(paragraphs) + "\n\n"
        yield spliced[:PAGE]


def make_corpus(work: Path, docs: int, web: bool = False) -> tuple[Path, list[str], list[list[int]]]:
    """Every 10th page gets one variant of a kind in VARIANT_KINDS; with ``web``, a chain of one
    to three variants instead, each a web_variant of the one before."""
    target = work / (f"dedup-web-{docs}" if web else f"dedup-{docs}")
    texts_path, families_path = target / "texts.json", target / "families.json"
    if families_path.exists():
        return target, json.loads(texts_path.read_text()), json.loads(families_path.read_text())
    shutil.rmtree(target, ignore_errors=True)
    (target / "jsonl").mkdir(parents=True)
    rng = random.Random(1)
    texts, families = [], []
    for i, page in enumerate(page_stream()):
        family = [len(texts)]
        texts.append(page)
        if i % 10 == 0:
            chain = [web_variant(page, rng)[1]] if web else [planted_variant(page, VARIANT_KINDS[(i // 10) % len(VARIANT_KINDS)], rng)]
            while web and len(chain) < 3 and rng.random() < 0.5:
                chain.append(web_variant(chain[-1], rng)[1])
            family += range(len(texts), len(texts) + len(chain))
            texts += chain
        families.append(family)
        if len(texts) >= docs:
            break
    per_file = -(-len(texts) // FILES)
    for f in range(FILES):
        with open(target / "jsonl" / f"part-{f}.jsonl", "wb") as handle:
            for i in range(f * per_file, min((f + 1) * per_file, len(texts))):
                handle.write(orjson.dumps({"id": f"b{i}", "text": texts[i]}) + b"\n")
    texts_path.write_text(json.dumps(texts))
    families_path.write_text(json.dumps(families))
    return target, texts, families


def curation_outcome(corpus: Path, count: int) -> tuple[list[int], list[bool]]:
    from curation import Corpus

    rows = Corpus.open(str(corpus)).sql("SELECT id, cluster_id, keep FROM minhash").to_pylist()
    cluster, kept = list(range(count)), [True] * count
    for row in rows:
        doc = int(row["id"][1:])
        cluster[doc], kept[doc] = int(row["cluster_id"][1:]), row["keep"]
    return cluster, kept


def datatrove_outcome(work: Path, count: int) -> tuple[list[int], list[bool]]:
    cluster, kept = list(range(count)), [True] * count
    for folder, keep in (("kept", True), ("removed", False)):
        for file in (work / folder).glob("*.jsonl*"):
            for line in gzip.open(file) if file.suffix == ".gz" else open(file, "rb"):
                record = orjson.loads(line)
                doc = int(record["id"][1:])
                kept[doc] = keep
                cluster_id = record.get("metadata", {}).get("minhash_cluster_id", -1)
                if cluster_id >= 0:  # -1: in no cluster
                    cluster[doc] = -1 - int(cluster_id)
    return cluster, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--peers-python", default=None, help="python of a venv with datatrove, datasketch and rensa")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--no-scores", action="store_true", help="skip precision and recall (large runs)")
    parser.add_argument("--web", action="store_true", help="chains of web-like variants (near_duplicates.web_variant)")
    args = parser.parse_args()

    target, texts, families = make_corpus(args.work, args.docs, args.web)
    size = sum(len(t.encode()) for t in texts)
    rows = []

    def run(name, command, outcome):
        if args.only and not any(o in name for o in args.only):
            return
        seconds, peak, output = measure(command)
        cluster, kept = outcome()
        rows.append((name, seconds, peak, cluster, kept))

    corpus = target / "corpus"
    if not (corpus / "corpus.json").exists():
        from curation.ingest.stage import IngestConfig
        from curation.ingest.units import InputSpec
        from curation.stage import run as run_stage

        run_stage(str(corpus), IngestConfig(inputs=[InputSpec(str(target / "jsonl"))]))
    from curation import Corpus

    Corpus.open(str(corpus)).forget_stages(["minhash"])
    run("curation (14x8, exact verification)", [sys.executable, "-m", "curation.cli", "-q", "dedup", str(corpus), "--fuzzy", "--workers", "2"],
        lambda: curation_outcome(corpus, len(texts)))
    if rows:
        stage = Corpus.open(str(corpus)).stage("minhash")
        rows.append(("curation, the fuzzy dedup stage alone", stage.wall_time_s, rows[-1][2], *rows[-1][3:]))
    if args.peers_python:
        work = args.work / "dedup-peer"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "run_datatrove.py").write_text(DATATROVE)
        (work / "run_sketch.py").write_text(SKETCH)
        run("datatrove MinHash (FineWeb 14x8)", [args.peers_python, str(work / "run_datatrove.py"), str(target / "jsonl"), str(work / "dt")],
            lambda: datatrove_outcome(work / "dt", len(texts)))
        for kind in ("datasketch", "rensa"):
            out = work / f"{kind}.json"
            run(f"{kind} MinHashLSH (128 perm, t=0.8)", [args.peers_python, str(work / "run_sketch.py"), kind, str(target / "jsonl"), str(out)],
                lambda out=out: tuple(json.loads(out.read_text()).values()))

    planted = sum(len(f) - 1 for f in families)
    print(f"\n{len(texts):,} documents, {size / 1e6:,.0f} MB, {planted:,} planted variants, 2 workers\n")
    truths = {} if args.no_scores else {"the stage's normalisation": true_pairs(shingle_sets(texts)),
                                        "plain lower-cased \\w+ words": true_pairs(word_sets(texts))}
    for measure_name, truth in truths.items() or [("", None)]:
        if truth is not None:
            print(f"Positives: pairs with Jaccard >= 0.8 over word 5-grams of {measure_name} ({len(truth):,} pairs)\n")
        print("| method | seconds | docs/s | MB/s | peak RSS (MB) | precision | recall | unique docs removed | true pairs left |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, seconds, peak, cluster, kept in rows:
            quality = "| | | | " if truth is None else _quality(pair_scores(truth, cluster, kept))
            print(f"| {name} | {seconds:.1f} | {len(texts) / seconds:,.0f} | {size / 1e6 / seconds:,.1f} | {peak / 1e6:,.0f} {quality}")
        print()


def _quality(scores) -> str:
    return (f"| {scores.precision:.3f} | {scores.recall:.3f} | {scores.unique_removed:,} of {scores.removed:,} "
            f"| {scores.pairs_left:,} |")


if __name__ == "__main__":
    main()
