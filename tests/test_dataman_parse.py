"""DataMan prompts and answer parsing: exactly 14 scores and one domain, or a rejection."""

from __future__ import annotations

import pytest

from scorers.dataman.parse import Unparseable, parse_rater_answer, parse_teacher_answer
from scorers.dataman.prompts import COLUMNS, CRITERIA, DOMAINS, annotation_prompt, rater_prompt, truncate

NAMES = [name for _, name, _ in CRITERIA]


def teacher_answer(scores, domain="E", names=NAMES) -> str:
    lines = "\n".join(f"[{i}]{name}: {score}/5" for i, (name, score) in enumerate(zip(names, scores, strict=True), start=1))
    return f"Let's think step by step. The text explains a network protocol clearly.\n{lines}\nDomain: [{domain}]Technology"


def test_fourteen_criteria_and_fifteen_domains_as_the_paper_names_them():
    assert len(CRITERIA) == 14 and COLUMNS[-1] == "overall_score" and COLUMNS[0] == "accuracy"
    assert list(DOMAINS) == list("ABCDEFGHIJKLMNO") and DOMAINS["H"] == "Coding" and DOMAINS["O"] == "Other"
    user = annotation_prompt("Some text.")[1]["content"]
    assert all(f"[{i}]{name}" in user for i, name in enumerate(NAMES, start=1)) and "[L]Retail E-commerce" in user
    assert rater_prompt("Some text.")[1]["content"].endswith("[14]Overall Score:_/5")


def test_a_rater_answer_parses_into_the_domain_and_scores():
    domain, scores = parse_rater_answer("H\n" + "\n".join(str(1 + i % 5) for i in range(14)))
    assert domain == "H" and scores["accuracy"] == 1 and scores["overall_score"] == 4 and list(scores) == list(COLUMNS)


@pytest.mark.parametrize("answer", [
    "H\n" + "\n".join(["4"] * 13),            # 13 scores
    "Z\n" + "\n".join(["4"] * 14),            # no such domain
    "H\n" + "\n".join(["4"] * 13 + ["6"]),    # out of range
    "H\n" + "\n".join(["4"] * 13 + ["four"]),
    "",
])
def test_malformed_rater_answers_are_rejected(answer):
    with pytest.raises(Unparseable):
        parse_rater_answer(answer)


def test_a_teacher_answer_rounds_as_dataman_trains_and_dedupes_a_restated_answer():
    scores = [4, 3.5, 5, 2.5, 1, 4, 3, 2, 5, 4, 3, 4, 5, 3.2]
    domain, parsed = parse_teacher_answer(teacher_answer(scores))
    assert domain == "E"
    assert [parsed[c] for c in COLUMNS] == [4, 4, 5, 2, 1, 4, 3, 2, 5, 4, 3, 4, 5, 4]
    restated = teacher_answer(scores) + "\nTo summarise:\n" + teacher_answer(scores)
    assert parse_teacher_answer(restated)[1] == parsed


@pytest.mark.parametrize("answer, why", [
    (teacher_answer([4] * 13 + [3])[: -len("Domain: [E]Technology")], "one domain letter"),
    (teacher_answer([4] * 14).replace("[E]", "[E]Technology or [H]"), "one domain letter"),
    (teacher_answer([4] * 14).replace("[7]Creativity: 4/5", "[7]Creativity: N/A"), "N/A"),
    (teacher_answer([4] * 14) + "\n" + teacher_answer([3] * 14), "14 scores"),
    (teacher_answer([4] * 13 + [0]), "1-5"),
])
def test_malformed_teacher_answers_are_rejected_never_guessed(answer, why):
    with pytest.raises(Unparseable, match=why):
        parse_teacher_answer(answer)


def test_truncation_keeps_the_beginning_and_the_end():
    text = " ".join(f"w{i}" for i in range(5000))
    cut = truncate(text).split()
    assert len(cut) == 1894 + 1 and cut[0] == "w0" and cut[-1] == "w4999" and cut[947] == "..."
    assert truncate("short text") == "short text"
