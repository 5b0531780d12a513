"""Measuring near-duplicate detection: planted variants of known similarity, and pair-level
precision and recall against exact word n-gram Jaccard (what the tests and the benchmark use,
and what a user can run to calibrate a threshold on their own text).

A positive is a pair whose exact Jaccard reaches the threshold, found among all pairs of the
corpus. Precision counts every pair inside a reported cluster, so chained merges (A~B, B~C,
A far from C) cost precision.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import pyarrow as pa

from curation.minhash.shingles import shingle_hashes

BOILERPLATE = "Home | About | Contact | Privacy policy | Terms of use | Subscribe to our newsletter"


VARIANT_KINDS = ("exact", "edit-1%", "edit-3%", "edit-8%", "edit-25%", "boilerplate", "reordered")


def planted_variant(text: str, kind: str, rng: random.Random) -> str:
    """A variant of one document: identical, words edited at a rate, boilerplate added around
    it, or its paragraphs shuffled. Exact Jaccard of word 5-grams to the original, for a page of
    about 250 words: exact 1.0, edit-1% ~0.9, edit-3% ~0.75-0.85, edit-8% ~0.55, edit-25% ~0.15,
    boilerplate ~0.9, reordered ~0.85-0.95."""
    return dict(planted_variants(text, rng))[kind]


def planted_variants(text: str, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) for every kind of variant, from identical to clearly different."""
    words = text.split(" ")

    def edited(rate: float) -> str:
        return " ".join(f"edit{rng.randrange(10**6)}" if rng.random() < rate else w for w in words)

    paragraphs = text.split("\n\n")
    shuffled = paragraphs[:]
    rng.shuffle(shuffled)
    return [
        ("exact", text),
        ("edit-1%", edited(0.01)),
        ("edit-3%", edited(0.03)),
        ("edit-8%", edited(0.08)),
        ("edit-25%", edited(0.25)),
        ("boilerplate", f"{BOILERPLATE}\n\n{text}\n\n{BOILERPLATE}"),
        ("reordered", "\n\n".join(shuffled)),
    ]


NAVIGATION = ("Home", "About us", "Contact", "Privacy policy", "Terms of use", "Subscribe to our newsletter", "Log in",
              "Sign up", "Search this site", "Share on social media", "Related articles", "Read more", "Next page",
              "Previous page", "Copyright 2024 All rights reserved", "Cookie settings", "Advertise with us", "Sitemap")


def web_variant(text: str, rng: random.Random) -> tuple[str, str]:
    """(kind, text): one near-duplicate as the web makes them, harder than planted_variants:
    words edited at 1-15%, boilerplate of 15-35% of the page's length around it (a site's
    navigation, its own per site), or its paragraphs reordered with 1-3% of words edited."""
    kind = rng.choice(("edit", "edit", "boilerplate", "reordered"))
    words = text.split(" ")

    def edited(source: list[str], rate: float) -> str:
        return " ".join(f"edit{rng.randrange(10**6)}" if rng.random() < rate else w for w in source)

    if kind == "edit":
        return kind, edited(words, rng.uniform(0.01, 0.15))
    if kind == "reordered":
        paragraphs = text.split("\n\n")
        rng.shuffle(paragraphs)
        return kind, edited("\n\n".join(paragraphs).split(" "), rng.uniform(0.01, 0.03))
    site = rng.sample(NAVIGATION, 8)
    wanted = rng.uniform(0.15, 0.35) * len(text)
    blocks = []
    while sum(len(b) + 3 for b in blocks) < wanted:
        blocks.append(rng.choice(site))
    header = rng.randrange(len(blocks) + 1)
    return kind, " | ".join(blocks[:header]) + "\n\n" + text + "\n\n" + " | ".join(blocks[header:])


def word_sets(texts: list[str], ngram: int = 5) -> list[frozenset]:
    """Plain word n-grams: lower-cased ``\\w+`` runs, no other normalisation (an independent
    measure beside the stage's own normalisation in shingle_sets)."""
    sets = []
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        sets.append(frozenset(hash(" ".join(words[i : i + ngram])) for i in range(max(len(words) - ngram + 1, 1))) if words else frozenset())
    return sets


def shingle_sets(texts: list[str], ngram: int = 5) -> list[frozenset]:
    hashes, offsets = shingle_hashes(pa.array(texts, pa.string()), ngram)
    return [frozenset(hashes[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(texts))]


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def true_pairs(sets: list[frozenset], threshold: float = 0.8) -> set[tuple[int, int]]:
    """Every pair of documents with exact Jaccard >= threshold, without comparing all pairs:
    prefix filtering (two sets that similar must share one of their rarest shingles), then an
    exact check of each candidate."""
    frequency: dict[int, int] = defaultdict(int)
    for shingles in sets:
        for shingle in shingles:
            frequency[shingle] += 1
    index: dict[int, list[int]] = defaultdict(list)
    pairs = set()
    for doc, shingles in enumerate(sets):
        if not shingles:
            continue
        rare_first = sorted(shingles, key=lambda s: (frequency[s], s))
        prefix = rare_first[: len(shingles) - math.ceil(threshold * len(shingles)) + 1]
        candidates = {other for shingle in prefix for other in index[shingle]}
        for other in candidates:
            if jaccard(shingles, sets[other]) >= threshold:
                pairs.add((other, doc))
        for shingle in prefix:
            index[shingle].append(doc)
    return pairs


@dataclass
class PairScores:
    precision: float
    recall: float
    true_pairs: int
    reported_pairs: int
    unique_removed: int  # removed documents with no true near-duplicate at all
    removed: int
    pairs_left: int  # true pairs with both documents kept

    def line(self) -> str:
        return (f"precision {self.precision:.3f} recall {self.recall:.3f} ({self.reported_pairs:,} reported pairs, "
                f"{self.true_pairs:,} true), unique docs removed {self.unique_removed:,} of {self.removed:,}, "
                f"true pairs left with both kept {self.pairs_left:,}")


def pair_scores(truth: set[tuple[int, int]], cluster_of: list[int], kept: list[bool]) -> PairScores:
    """Scores of a clustering against the true pairs; a cluster of m documents reports
    m(m-1)/2 pairs, counted, never listed."""
    sizes = Counter(cluster_of)
    reported = sum(m * (m - 1) // 2 for m in sizes.values())
    found = sum(cluster_of[a] == cluster_of[b] for a, b in truth)
    has_twin = {doc for pair in truth for doc in pair}
    removed = [doc for doc, keep in enumerate(kept) if not keep]
    return PairScores(
        precision=found / reported if reported else 1.0,
        recall=found / len(truth) if truth else 1.0,
        true_pairs=len(truth),
        reported_pairs=reported,
        unique_removed=sum(doc not in has_twin for doc in removed),
        removed=len(removed),
        pairs_left=sum(kept[a] and kept[b] for a, b in truth),
    )
