"""Heuristic quality filters: the Gopher quality and repetition rules (Rae et al. 2021), the C4
rules (Raffel et al. 2020) and the FineWeb quality rules (Penedo et al. 2024), with the
thresholds those pipelines publish (as datatrove's filters set them by default).

Every measured value is written, with pass/fail per rule family and ``reason``, the first rule
that failed (``gopher_quality:min_doc_words``, ``c4:curly_bracket``, ...), so that
``SELECT reason, count(*) FROM heuristics GROUP BY reason`` explains every drop.

Words are split on whitespace, as the Gopher paper defines them (datatrove's NLTK tokens count
every comma as a word, which fails the 80%-alphabetic rule on ordinary prose); stop words are
matched with punctuation stripped; lines are split on newlines, paragraphs on blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from scorers.base import Scorer

PUNCTUATION = "".join(chr(c) for c in range(128) if not chr(c).isalnum() and not chr(c).isspace())
PARAGRAPHS = re.compile(r"\n\s*\n")
SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "\u201d", "\u2019", "\u3002")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class HeuristicThresholds:
    # Gopher quality
    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3
    max_avg_word_length: float = 10
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    # Gopher repetition
    max_dup_line_frac: float = 0.3
    max_dup_para_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_dup_para_char_frac: float = 0.2
    max_top_2gram_frac: float = 0.20
    max_top_3gram_frac: float = 0.18
    max_top_4gram_frac: float = 0.16
    max_dup_5gram_frac: float = 0.15
    max_dup_6gram_frac: float = 0.14
    max_dup_7gram_frac: float = 0.13
    max_dup_8gram_frac: float = 0.12
    max_dup_9gram_frac: float = 0.11
    max_dup_10gram_frac: float = 0.10
    # C4
    min_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000
    # FineWeb
    min_line_punct_ratio: float = 0.12
    max_short_line_ratio: float = 0.67
    short_line_length: int = 30
    max_char_dup_ratio: float = 0.01
    max_newline_ratio: float = 0.3


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
        "line_punct_ratio": _share(non_empty, lambda line: line.endswith(TERMINAL_PUNCTUATION)),
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
    return (line.endswith(TERMINAL_PUNCTUATION) and len(words) >= limits.min_words_per_line
            and max(map(len, words)) <= limits.max_word_length and "javascript" not in lowered
            and not any(phrase in lowered for phrase in POLICY_PHRASES))


def failures(values: dict, limits: HeuristicThresholds) -> dict[str, list[str]]:
    """The rules each family fails, in the order the pipelines check them."""
    gopher_quality = [
        ("min_doc_words", values["words"] < limits.min_doc_words),
        ("max_doc_words", values["words"] > limits.max_doc_words),
        ("min_avg_word_length", values["avg_word_length"] < limits.min_avg_word_length),
        ("max_avg_word_length", values["avg_word_length"] > limits.max_avg_word_length),
        ("max_symbol_word_ratio", values["symbol_word_ratio"] > limits.max_symbol_word_ratio),
        ("max_bullet_lines_ratio", values["bullet_lines_ratio"] > limits.max_bullet_lines_ratio),
        ("max_ellipsis_lines_ratio", values["ellipsis_lines_ratio"] > limits.max_ellipsis_lines_ratio),
        ("min_alpha_words_ratio", values["alpha_words_ratio"] < limits.min_alpha_words_ratio),
        ("min_stop_words", values["stop_words"] < limits.min_stop_words),
    ]
    repetition = [(name, values[name] > getattr(limits, f"max_{name}")) for name in (
        "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac",
        "top_2gram_frac", "top_3gram_frac", "top_4gram_frac", *(f"dup_{n}gram_frac" for n in range(5, 11)))]
    c4 = [
        ("lorem_ipsum", values["lorem_ipsum"]),
        ("curly_bracket", values["curly_bracket"]),
        ("min_sentences", values["c4_sentences"] < limits.min_sentences),
    ]
    fineweb = [
        ("line_punct_ratio", values["line_punct_ratio"] < limits.min_line_punct_ratio),
        ("short_line_ratio", values["short_line_ratio"] > limits.max_short_line_ratio),
        ("char_dup_ratio", values["char_dup_ratio"] > limits.max_char_dup_ratio),
        ("newline_ratio", values["newline_ratio"] > limits.max_newline_ratio),
    ]
    rules = {"gopher_quality": gopher_quality, "gopher_repetition": repetition, "c4": c4, "fineweb": fineweb}
    return {family: [name for name, failed in checks if failed] for family, checks in rules.items()}


class HeuristicsScorer(Scorer):
    """Gopher quality, Gopher repetition, C4 and FineWeb rules; ``keep`` when all four pass."""

    name = "heuristics"

    def __init__(self, **thresholds):
        unknown = set(thresholds) - {f.name for f in fields(HeuristicThresholds)}
        if unknown:
            self.reject_options(unknown)
        self.limits = HeuristicThresholds(**thresholds)

    @property
    def schema(self) -> pa.Schema:
        sample = measure("", self.limits)
        types = {bool: pa.bool_(), int: pa.int32(), float: pa.float32()}
        measured = [(name, types[type(value)]) for name, value in sample.items()]
        verdicts = [(family, pa.bool_()) for family in FAMILIES]
        return pa.schema([*measured, *verdicts, ("keep", pa.bool_()), ("reason", pa.string())])

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        rows = []
        for text in batch.column("text").to_pylist():
            values = measure(text, self.limits)
            failed = failures(values, self.limits)
            values.update({family: not failed[family] for family in FAMILIES})
            first = next((f"{family}:{rules[0]}" for family, rules in failed.items() if rules), None)
            values.update(keep=first is None, reason=first)
            rows.append(values)
        return pa.Table.from_pylist(rows, schema=self.schema)
