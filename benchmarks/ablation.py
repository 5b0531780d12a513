"""Does curation help? A real-text corpus from the demo's sources, web-like noise mixed in at known
rates, the whole pipeline over it, then `curate ablate`: the same tiny LM trained at equal tokens
on each arm, 3 seeds, bits per byte on clean held-out text of every domain.

    python benchmarks/ablation.py [--size-mb 50] [--tokens 1500000] [--seeds 3] [--work benchmarks/out]

The noise, as shares of the clean documents (each kind's documents keep a source of its own,
noise-<kind>, so every arm's intake of it can be counted):
    exact            exact copies of a few popular documents (each copied 1-20 times)
    near             chains of near-copies: each copy edits the one before it at 1-15% of its words
                     (substitutions, deletions, insertions), a third with its paragraphs reordered
    boilerplate      pages that are mostly navigation, cookie notices and footers around one line
    keywords         keyword lists: 50-300 words of the corpus's vocabulary, comma-separated
    repeated_lines   one line of a real document repeated 20-200 times
    fragments        20-120 characters cut from a real document
    other_language   the Debian handbook in its other languages (the eval sets are English)

Held-out text: per domain, the first documents up to 48 KB (ids heldout-*) are never copied into
noise and are the eval sets (--eval "id LIKE 'heldout-%'"). Arms: random (every document), filtered
(heuristics, English by langid, exact and fuzzy dedup), quality (filtered and the fastText quality
classifier's better half), balanced (quality, then balanced sampling over the cluster tree, half
the documents), rehydrated (filtered, each kept document repeated by its near-duplicate cluster's
size with FineWeb-2's table). Each arm's effect is reported beside the arm it adds a step to.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
from common import HERE

from curation import Corpus
from curation.ablate.summary import interval
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR

CLEAN = {  # source: (domain, documents)
    "linux-doc": ("docs", lambda root: sources.linux_docs(root)),
    "python-doc": ("docs", lambda root: sources.python_docs(root)),
    "python-stdlib": ("code", lambda root: sources.python_stdlib()),
    "sqlite-site": ("web", lambda root: sources.sqlite_site(root)),
    "foldoc": ("reference", lambda root: sources.foldoc(root)),
    "metamath": ("math", lambda root: sources.metamath(root)),
    "fortunes": ("literature", lambda root: sources.fortunes(root)),
    "debian-handbook": ("books", lambda root: ((i, t) for i, t, locale in sources.debian_handbook(root) if locale == "en-US")),
}
NOISE = {"exact": 0.08, "near": 0.10, "boilerplate": 0.05, "keywords": 0.04, "repeated_lines": 0.04,
         "fragments": 0.06, "other_language": 0.06}
HELD_OUT_BYTES = 48_000
MAX_CHARS = 5000
BOILERPLATE = [
    "Home | About us | Products | Services | Blog | Contact | Login | Register",
    "We use cookies to improve your experience on our website. By continuing to browse you agree to our use "
    "of cookies. Accept all | Manage preferences | Privacy policy",
    "Copyright (c) 2024 Example Media Group. All rights reserved. Terms of use | Privacy | Sitemap | Careers",
    "Subscribe to our newsletter and never miss an update! Enter your email address: [ Subscribe ]",
    "Share this: Facebook Twitter LinkedIn Email Print | Related posts | Popular this week | Tags",
    "Skip to main content. Menu. Search this site. Recent comments. Archives. Categories. Meta.",
]
ARMS = ("random", "filtered", "quality", "balanced", "rehydrated")
STEPS = (("filtered", "random"), ("quality", "filtered"), ("balanced", "quality"), ("rehydrated", "filtered"))
FILTERED = "heuristics.keep AND langid.language = 'en' AND exact_dedup.keep AND minhash.keep"


def clean_documents(size_mb: int) -> dict[str, list[dict]]:
    """Round robin over the sources, long texts cut at paragraph ends, until size_mb of text."""
    root = DEFAULT_DATA_DIR / "root"
    streams = {source: make(root) for source, (_, make) in CLEAN.items()}
    documents = {source: [] for source in CLEAN}
    total, budget = 0, size_mb * 1024 * 1024
    while streams and total < budget:
        for source in list(streams):
            item = next(streams[source], None)
            if item is None:
                del streams[source]
                continue
            for number, piece in enumerate(_pieces(item[1])):
                documents[source].append({"id": f"{source}/{item[0]}#{number}", "text": piece})
                total += len(piece.encode())
    return documents


def _pieces(text: str) -> list[str]:
    pieces, current = [], ""
    for paragraph in text.split("\n\n"):
        if current and len(current) + len(paragraph) > MAX_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    return [p[:MAX_CHARS] for p in [*pieces, current] if p.strip()]


def hold_out(documents: dict[str, list[dict]]) -> set[str]:
    """Per domain, the first documents up to HELD_OUT_BYTES become the eval sets (renamed heldout-*)."""
    taken: dict[str, int] = {}
    held = set()
    for source, rows in documents.items():
        domain = CLEAN[source][0]
        for row in rows:
            if taken.get(domain, 0) >= HELD_OUT_BYTES // (2 if domain == "docs" else 1):
                break
            row["id"] = f"heldout-{row['id']}"
            held.add(row["id"])
            taken[domain] = taken.get(domain, 0) + len(row["text"].encode())
    return held


def _edited(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    words = text.split(" ")
    out = []
    for word in words:
        draw = rng.random()
        if draw < rate / 3:
            continue  # deleted
        out.append(rng.choice(vocabulary) if draw < 2 * rate / 3 else word)
        if rng.random() < rate / 3:
            out.append(rng.choice(vocabulary))  # inserted
    return " ".join(out)


def noise(documents: dict[str, list[dict]], held: set[str], seed: int = 0) -> dict[str, list[dict]]:
    """Each kind of noise, as documents with source noise-<kind> and the domain of what it came from."""
    rng = random.Random(seed)
    pool = [(CLEAN[s][0], row["text"]) for s, rows in documents.items() for row in rows if row["id"] not in held]
    count = len(pool)
    vocabulary = sorted({w for _, t in rng.sample(pool, min(2000, count)) for w in re.findall(r"[A-Za-z]{3,12}", t)})
    made: dict[str, list[tuple[str, str]]] = {kind: [] for kind in NOISE}
    popular = rng.sample(pool, max(1, int(count * NOISE["exact"] / 8)))
    while len(made["exact"]) < count * NOISE["exact"]:
        made["exact"] += [rng.choice(popular)] * rng.randint(1, 20)
    while len(made["near"]) < count * NOISE["near"]:
        domain, text = rng.choice(pool)
        for _ in range(rng.randint(1, 5)):  # a chain: each copy edits the one before
            text = _edited(text, rng.uniform(0.01, 0.15), rng, vocabulary)
            if rng.random() < 1 / 3:
                paragraphs = text.split("\n\n")
                rng.shuffle(paragraphs)
                text = "\n\n".join(paragraphs)
            made["near"].append((domain, text))
    for _ in range(int(count * NOISE["boilerplate"])):
        blocks = rng.sample(BOILERPLATE, rng.randint(3, 6))
        blocks.insert(rng.randint(0, len(blocks)), rng.choice(pool)[1].split("\n")[0][:200])
        made["boilerplate"].append(("web", "\n\n".join(blocks)))
    for _ in range(int(count * NOISE["keywords"])):
        made["keywords"].append(("web", ", ".join(rng.choices(vocabulary, k=rng.randint(50, 300)))))
    for _ in range(int(count * NOISE["repeated_lines"])):
        domain, text = rng.choice(pool)
        lines = [line for line in text.splitlines() if len(line) > 20] or [text[:80]]
        made["repeated_lines"].append((domain, "\n".join([rng.choice(lines)] * rng.randint(20, 200))))
    for _ in range(int(count * NOISE["fragments"])):
        domain, text = rng.choice(pool)
        start = rng.randrange(max(1, len(text) - 120))
        made["fragments"].append((domain, text[start : start + rng.randint(20, 120)]))
    others = (t for _, t, locale in sources.debian_handbook(DEFAULT_DATA_DIR / "root") if locale != "en-US")
    made["other_language"] = [("books", piece) for text in itertools.islice(others, int(count * NOISE["other_language"]))
                              for piece in _pieces(text)[:1]]
    return {kind: [{"id": f"noise-{kind}-{n}", "text": text, "domain": domain} for n, (domain, text) in enumerate(rows)]
            for kind, rows in made.items()}


def write_inputs(work: Path, size_mb: int) -> list[dict]:
    """The JSONL inputs (one per source and noise kind and domain) and their pipeline entries."""
    raw = work / "raw"
    if (raw / ".done").exists():
        return orjson.loads((raw / ".done").read_bytes())
    raw.mkdir(parents=True, exist_ok=True)
    documents = clean_documents(size_mb)
    held = hold_out(documents)
    inputs = []
    for source, rows in documents.items():
        path = raw / f"{source}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        inputs.append({"path": str(path), "source": source, "domain": CLEAN[source][0]})
    for kind, rows in noise(documents, held).items():
        for domain in sorted({r["domain"] for r in rows}):
            path = raw / f"noise-{kind}-{domain}.jsonl"
            path.write_bytes(b"".join(orjson.dumps({"id": r["id"], "text": r["text"]}) + b"\n" for r in rows if r["domain"] == domain))
            inputs.append({"path": str(path), "source": f"noise-{kind}", "domain": domain})
    (raw / ".done").write_bytes(orjson.dumps(inputs))
    return inputs


def pipeline(work: Path, inputs: list[dict]) -> Path:
    import yaml

    config = {
        "corpus": str(work / "corpus"), "inputs": inputs, "ingest": {"shard_size": 5000},
        "stages": {
            "scores": [{"scorer": "heuristics"}, {"scorer": "langid"}],
            "quality_classifiers": [{"name": "quality_docs", "positive": "source IN ('python-doc', 'debian-handbook')",
                                     "negative": "source = 'fortunes'", "top_percent": 50, "top_by": "chars"}],
            "exact_dedup": {"scope": "global", "normalize": "whitespace"},
            "minhash": {"threshold": 0.8, "keep": "longest", "verify": "exact"},
            "embed": {"encoder": "static", "max_chars": 2000},
            "clusters": {"iterations": 20},
        },
        "selections": {"filtered": {"where": FILTERED},
                       "quality": {"where": f"{FILTERED} AND quality_docs.keep"}},
    }
    path = work / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def curate(*arguments: str) -> float:
    started = time.time()
    subprocess.run([sys.executable, "-m", "curation.cli", "-q", *arguments], check=True)
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=1_500_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    work = args.work / f"ablation-{args.size_mb}mb"
    inputs = write_inputs(work, args.size_mb)
    corpus_dir = str(work / "corpus")
    seconds = {"pipeline": curate("run", str(pipeline(work, inputs)))}
    corpus = Corpus.open(corpus_dir)
    quality = corpus.sql("SELECT count(*) AS n FROM selection_quality")["n"][0].as_py()
    seconds["selections"] = curate("select", "balanced", corpus_dir, "--where", f"{FILTERED} AND quality_docs.keep",
                                   "--balanced", str(quality // 2)) + curate(
        "mix", "rehydrated", corpus_dir, "--selection", "filtered", "--rehydrate", "fineweb2")
    arms = ["random=all", "filtered=filtered", "quality=quality", "balanced=balanced", "rehydrated=mixture:rehydrated"]
    seconds["ablate"] = curate("ablate", "noisy", corpus_dir, *(a for arm in arms for a in ("--arm", arm)),
                               "--tokens", str(args.tokens), "--seeds", str(args.seeds), "--eval", "id LIKE 'heldout-%'",
                               "--eval-bytes", str(10 * HELD_OUT_BYTES))
    report(Corpus.open(corpus_dir), args, seconds)


def report(corpus: Corpus, args, seconds: dict[str, float]) -> None:
    documents = corpus.sql("SELECT count(*) AS n, sum(strlen(text)) AS bytes FROM docs").to_pylist()[0]
    print(f"\n{documents['n']:,} documents, {documents['bytes'] / 2**20:,.1f} MB; pipeline {seconds['pipeline']:.0f} s, "
          f"selections {seconds['selections']:.0f} s, ablation {seconds['ablate']:.0f} s "
          f"({len(ARMS)} arms x {args.seeds} seeds of {args.tokens:,} tokens)\n")
    intake = corpus.sql("SELECT source LIKE 'noise-%' AS noise, source, count(*) AS n FROM docs GROUP BY ALL").to_pylist()
    kept = {}
    for name, where in (("filtered", "selection_filtered"), ("quality", "selection_quality"), ("balanced", "selection_balanced")):
        for row in corpus.sql(f"SELECT source, count(*) AS n FROM docs JOIN {where} USING (id) GROUP BY ALL").to_pylist():
            kept[name, row["source"]] = row["n"]
    print("| source | documents | " + " | ".join(f"in {a}" for a in ("filtered", "quality", "balanced")) + " |")
    print("|---|---:|---:|---:|---:|")
    for row in sorted(intake, key=lambda r: (r["noise"], r["source"])):
        print(f"| {row['source']} | {row['n']:,} | " + " | ".join(f"{kept.get((a, row['source']), 0):,}"
                                                                for a in ("filtered", "quality", "balanced")) + " |")
    runs = corpus.sql("SELECT arm, seed, avg(bits_per_byte) AS bits FROM ablation_noisy GROUP BY ALL").to_pylist()
    bits = {(r["arm"], r["seed"]): r["bits"] for r in runs}
    print("\n| arm | bits per byte, mean of the eval sets [95%] | minus random [95%] |\n|---|---:|---:|")
    for arm in ARMS:
        print(f"| {arm} | {_interval([bits[arm, s] for s in range(args.seeds)])} | "
              f"{_interval([bits[arm, s] - bits['random', s] for s in range(args.seeds)], '+') if arm != 'random' else ''} |")
    print("\n| step | effect on bits per byte [95%], paired by seed | excludes 0 |\n|---|---:|---|")
    for arm, before in STEPS:
        differences = np.array([bits[arm, s] - bits[before, s] for s in range(args.seeds)])
        _, _, low, high = interval(differences)
        print(f"| {before} -> {arm} | {_interval(differences, '+')} | {'yes' if low is not None and (low > 0 or high < 0) else 'no'} |")
    print("\nper eval set: curate sql " + corpus.url + ' "SELECT * FROM ablation_noisy_summary"')


def _interval(values, sign: str = "") -> str:
    mean, _, low, high = interval(np.array(values))
    return f"{mean:{sign}.4f}" + ("" if low is None else f" [{low:{sign}.4f}, {high:{sign}.4f}]")


if __name__ == "__main__":
    main()
