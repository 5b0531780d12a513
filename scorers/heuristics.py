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

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from scorers.base import Scorer

try:
    from scorers._heuristics import Kernel
except ImportError as error:  # the source tree was updated without reinstalling
    raise ImportError("the heuristics kernel is not built: run scripts/install (pip install -e .)") from error

PUNCTUATION = "".join(chr(c) for c in range(128) if not chr(c).isalnum() and not chr(c).isspace())
STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
TERMINAL_PUNCTUATION = ".!?\"'\u201d\u2019\u3002"  # a line that ends in one ends a sentence
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
C4_PHRASES = ("javascript", *POLICY_PHRASES)
C4_CLUES = ("javascript", "cookie", "terms of use", "privacy policy")  # each phrase holds one
FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
_FRACTIONS = [(f"top_{n}gram_frac", pa.float32()) for n in (2, 3, 4)] + [(f"dup_{n}gram_frac", pa.float32()) for n in range(5, 11)]
MEASURED = [  # the attrs columns, in this order
    ("words", pa.int32()), ("avg_word_length", pa.float32()), ("symbol_word_ratio", pa.float32()),
    ("bullet_lines_ratio", pa.float32()), ("ellipsis_lines_ratio", pa.float32()), ("alpha_words_ratio", pa.float32()),
    ("stop_words", pa.int32()), ("dup_line_frac", pa.float32()), ("dup_para_frac", pa.float32()),
    ("dup_line_char_frac", pa.float32()), ("dup_para_char_frac", pa.float32()), *_FRACTIONS,
    ("c4_lines_kept_ratio", pa.float32()), ("c4_sentences", pa.int32()), ("lorem_ipsum", pa.bool_()),
    ("curly_bracket", pa.bool_()), ("line_punct_ratio", pa.float32()), ("short_line_ratio", pa.float32()),
    ("char_dup_ratio", pa.float32()), ("newline_ratio", pa.float32()),
]


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


def measure(texts: list[str], limits: HeuristicThresholds) -> dict[str, np.ndarray]:
    """Every measured value of every text, by name, as arrays (the rules' definitions, one
    document at a time in Python, are in tests/heuristics_reference.py)."""
    lowered = [text.lower() for text in texts]
    kernel = Kernel(TERMINAL_PUNCTUATION, STOP_WORDS, limits.short_line_length, limits.min_words_per_line,
                    limits.max_word_length)
    values = kernel.measure(texts, lowered, [_banned_lines(text) for text in lowered])
    values["lorem_ipsum"] = np.array(["lorem ipsum" in text for text in lowered], dtype=bool)
    values["curly_bracket"] = np.array(["{" in text for text in texts], dtype=bool)
    return values


def _banned_lines(lowered: str) -> set[int] | None:
    """The lines C4 drops for a phrase (by number), or None: the phrases are found in the whole
    text at C speed, so only the rare text that has one pays for finding its lines."""
    if not any(clue in lowered for clue in C4_CLUES):
        return None
    lines = None
    for phrase in C4_PHRASES:
        start = lowered.find(phrase)
        while start >= 0:
            lines = lines or set()
            lines.add(lowered.count("\n", 0, start))
            start = lowered.find(phrase, start + 1)
    return lines


def rules(values: dict, limits: HeuristicThresholds) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Each family's rules, in the order the pipelines check them: (name, failed per document)."""
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
    return {"gopher_quality": gopher_quality, "gopher_repetition": repetition, "c4": c4, "fineweb": fineweb}


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
        verdicts = [(family, pa.bool_()) for family in FAMILIES]
        return pa.schema([*MEASURED, *verdicts, ("keep", pa.bool_()), ("reason", pa.string())])

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        values = measure(batch.column("text").to_pylist(), self.limits)
        columns = {name: values[name].astype(type.to_pandas_dtype()) for name, type in MEASURED}
        reason = np.full(batch.num_rows, None, dtype=object)
        undecided = np.ones(batch.num_rows, dtype=bool)
        for family, checks in rules(values, self.limits).items():
            passed = np.ones(batch.num_rows, dtype=bool)
            for rule, failed in checks:
                reason[failed & undecided] = f"{family}:{rule}"  # the first rule that fails
                undecided &= ~failed
                passed &= ~failed
            columns[family] = passed
        columns.update(keep=undecided, reason=reason)
        return pa.table(columns, schema=self.schema)
