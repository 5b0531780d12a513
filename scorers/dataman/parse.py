"""Reading a rater's answer into 14 scores and one domain, or rejecting it (DataMan, Peng et al. 2025, arXiv:2502.19363): an answer
is never guessed or repaired beyond what DataMan's own parser does.

Two forms are read:
- a rater's: the domain letter on the first line, then the 14 scores one per line;
- a teacher's (free text with reasoning): the 14 ``[n]Name: s/5`` scores (found twice with the same
  values, as when a model restates its answer, counts once) and exactly one domain letter ``[X]``.
Scores must be 1..5; a teacher's fractional score rounds as DataMan's training targets do: below 3
down, from 3 up.
"""

from __future__ import annotations

import math
import re

from scorers.dataman.prompts import COLUMNS, CRITERIA, DOMAINS


class Unparseable(ValueError):
    """The answer is not 14 scores and one domain; the caller retries or records it unrated."""


_SCORE = re.compile(r"\[(\d{1,2})\]\s*([A-Za-z ]+?)\s*:\s*\**\s*(\d+(?:\.\d+)?)\s*\**\s*/\s*5")
_DOMAIN = re.compile(r"\[([A-O])\]\s*(?:" + "|".join(re.escape(name) for name in DOMAINS.values()) + r")?(?![a-z])")
_NAMES = {name.lower(): i for i, (_, name, _) in enumerate(CRITERIA, start=1)}


def _rounded(value: float) -> int:
    return math.floor(value) if value < 3 else math.ceil(value)


def parse_rater_answer(answer: str) -> tuple[str, dict[str, int]]:
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    if len(lines) != 15 or lines[0] not in DOMAINS or not all(re.fullmatch(r"[1-5]", line) for line in lines[1:]):
        raise Unparseable(f"expected a domain letter and 14 scores of 1-5 on 15 lines, got {answer[:200]!r}")
    return lines[0], dict(zip(COLUMNS, (int(line) for line in lines[1:]), strict=True))


def parse_teacher_answer(answer: str) -> tuple[str, dict[str, int]]:
    if "N/A" in answer:
        raise Unparseable("the answer has N/A scores")
    found = [(int(n), name.strip().lower(), float(value)) for n, name, value in _SCORE.findall(answer)]
    if len(found) == 28 and found[:14] == found[14:]:
        found = found[:14]
    if len(found) != 14 or [n for n, _, _ in found] != list(range(1, 15)):
        raise Unparseable(f"expected the 14 scores [1]..[14], found {len(found)}")
    if any(_NAMES.get(name) not in (None, n) for n, name, _ in found):
        raise Unparseable("criteria are out of order")
    scores = [_rounded(value) for _, _, value in found]
    if not all(1 <= s <= 5 for s in scores):
        raise Unparseable(f"scores must be 1-5, got {scores}")
    text_without_scores = _SCORE.sub(" ", answer)
    letters = set(_DOMAIN.findall(text_without_scores))
    if len(letters) != 1:
        raise Unparseable(f"expected exactly one domain letter, found {sorted(letters) or 'none'}")
    return letters.pop(), dict(zip(COLUMNS, scores, strict=True))
