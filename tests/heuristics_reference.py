"""The heuristic rules' measurements defined one document at a time in plain Python: the
reference the compiled kernel (scorers/_heuristics.pyx) must equal value for value."""

from __future__ import annotations

import re

import numpy as np

from scorers.heuristics import POLICY_PHRASES, PUNCTUATION, STOP_WORDS, TERMINAL_PUNCTUATION, HeuristicThresholds

PARAGRAPHS = re.compile(r"\n\s*\n")
SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def measure(text: str, limits: HeuristicThresholds) -> dict:
    """Every measured value of one document."""
    words = text.split()
    n_words = max(len(words), 1)
    lower_words = [w.lower() for w in words]
    lines = text.split("\n")
    stripped = [line.strip() for line in lines]
    non_empty = [line for line in stripped if line]
    paragraphs = [p.strip() for p in PARAGRAPHS.split(text.strip()) if p.strip()]
    chars = max(len(text), 1)
    alpha_words = [w for w in words if any(c.isalpha() for c in w)]
    dup_lines, dup_paras = _duplicates(non_empty), _duplicates(paragraphs)
    values = {
        "words": len(words),
        "avg_word_length": sum(map(len, alpha_words)) / len(alpha_words) if alpha_words else 0.0,
        "symbol_word_ratio": (text.count("#") + text.count("...") + text.count("\u2026")) / n_words,
        "bullet_lines_ratio": _share(non_empty, lambda line: line.startswith(("\u2022", "-", "*"))),
        "ellipsis_lines_ratio": _share(non_empty, lambda line: line.endswith(("...", "\u2026"))),
        "alpha_words_ratio": len(alpha_words) / n_words,
        "stop_words": sum(1 for w in lower_words if w.strip(PUNCTUATION) in STOP_WORDS),
        "dup_line_frac": dup_lines[0] / max(len(non_empty), 1),
        "dup_para_frac": dup_paras[0] / max(len(paragraphs), 1),
        "dup_line_char_frac": dup_lines[1] / chars,
        "dup_para_char_frac": dup_paras[1] / chars,
    }
    ngrams = _WordNgrams(lower_words)
    for n in (2, 3, 4):
        values[f"top_{n}gram_frac"] = ngrams.top_share(n)
    for n in range(5, 11):
        values[f"dup_{n}gram_frac"] = ngrams.duplicated_share(n)
    c4_lines = [line for line in non_empty if _c4_keeps_line(line, limits)]
    lowered = text.lower()
    values.update({
        "c4_lines_kept_ratio": len(c4_lines) / max(len(non_empty), 1),
        "c4_sentences": len(SENTENCE_END.findall(" ".join(c4_lines))),
        "lorem_ipsum": "lorem ipsum" in lowered,
        "curly_bracket": "{" in text,
        "line_punct_ratio": _share(non_empty, lambda line: line.endswith(tuple(TERMINAL_PUNCTUATION))),
        "short_line_ratio": _share(non_empty, lambda line: len(line) <= limits.short_line_length),
        "char_dup_ratio": dup_lines[1] / max(len(text.replace("\n", "")), 1),
        "newline_ratio": text.count("\n") / n_words,
    })
    return values


def _share(items: list[str], predicate) -> float:
    return sum(1 for item in items if predicate(item)) / len(items) if items else 0.0


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(items that repeat an earlier one, their characters)."""
    seen, count, characters = set(), 0, 0
    for item in items:
        if item in seen:
            count += 1
            characters += len(item)
        else:
            seen.add(item)
    return count, characters


class _WordNgrams:
    """The words of one document as integers, and each n-gram as one 64-bit rolling hash, so
    the repetition rules count with numpy rather than with tuples in Python."""

    def __init__(self, words: list[str]):
        self.ids = np.fromiter((hash(w) for w in words), dtype=np.int64, count=len(words)).view(np.uint64)
        self.lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.ends = np.concatenate([[0], np.cumsum(self.lengths)])

    def hashes(self, n: int) -> np.ndarray:
        count = len(self.ids) - n + 1
        if count <= 0:
            return np.zeros(0, dtype=np.uint64)
        combined = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n):
                combined = combined * _MULTIPLIER + self.ids[k : k + count]
        return combined

    def top_share(self, n: int) -> float:
        """Characters of the most frequent n-gram (the earliest on ties), times its count, over
        the characters of all words."""
        grams = self.hashes(n)
        if len(grams) == 0:
            return 0.0
        _, first, counts = np.unique(grams, return_index=True, return_counts=True)
        best = counts.max()
        if best <= 1:
            return 0.0
        start = int(first[counts == best].min())
        return float((self.ends[start + n] - self.ends[start]) * best / max(self.ends[-1], 1))

    def duplicated_share(self, n: int) -> float:
        """Characters of words inside an n-gram seen earlier in the text, over all characters."""
        grams = self.hashes(n)
        if len(grams) == 0 or self.ends[-1] == 0:
            return 0.0
        repeated = np.ones(len(grams), dtype=bool)
        repeated[np.unique(grams, return_index=True)[1]] = False
        starts = np.flatnonzero(repeated)
        edges = np.zeros(len(self.ids) + 1, dtype=np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + n, -1)
        covered = np.cumsum(edges[:-1]) > 0
        return float(self.lengths[covered].sum() / self.ends[-1])


def _c4_keeps_line(line: str, limits: HeuristicThresholds) -> bool:
    lowered = line.lower()
    words = line.split()
    return (line.endswith(tuple(TERMINAL_PUNCTUATION)) and len(words) >= limits.min_words_per_line
            and max(map(len, words)) <= limits.max_word_length and "javascript" not in lowered
            and not any(phrase in lowered for phrase in POLICY_PHRASES))


