"""Heuristic filters: the compiled kernel gives every value the per-document Python definition
gives, on real text, on text made to repeat and on strings of awkward characters; a text written
to trip each rule fails with that rule as the reason; the stage writes every measured value, its
reasons add up in SQL, runs on Dask like in-process, and resumes after SIGKILL."""

from __future__ import annotations

import random
import subprocess

import numpy as np
import pyarrow as pa
import pytest
from conftest import CURATE, kill_once_staged, stdlib_texts, write_jsonl
from heuristics_reference import measure as reference

from curation import Corpus
from curation.errors import UserError
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from scorers.base import get_scorer
from scorers.heuristics import HeuristicThresholds, measure
from scorers.stage import ScoreConfig

GOOD = [
    "The committee met on Tuesday to review the budget and the plans for next year.",
    "Several members argued that the library should open earlier on weekday mornings.",
    "A local teacher described how students use the reading room after their classes.",
    "The treasurer explained that heating costs have risen sharply since last winter.",
    "Everyone agreed that volunteers deserve thanks for repairing the old bookshelves.",
    "Questions about parking were postponed until the city engineer could attend.",
    "One resident asked whether the garden behind the building might host concerts.",
    "The chair promised to publish the minutes with a summary of every decision.",
    "Funding for new computers will depend on a grant that arrives in the spring.",
    "Children from the nearby school painted a mural that now brightens the hallway.",
    "The meeting closed with a short discussion about opening hours during holidays.",
    "Next month the group will invite the mayor to present her view of the project.",
]


def word(i: int) -> str:
    """A distinct made-up word of four letters."""
    return "".join(chr(97 + (i // 26**k) % 26) for k in range(3)) + "s"


def reason(text: str, **options) -> str | None:
    table = get_scorer("heuristics", **options).score(pa.record_batch({"text": pa.array([text])}))
    return table["reason"][0].as_py()


# Characters where Python's notion of whitespace, letters and case is easy to get wrong: Unicode
# spaces and separators (\x1c-\x1f and \x85 split words, \u200b and \ufeff do not), dotted
# capital I (lower-cases to two code points), final sigma, CJK and combining marks, and the
# characters the rules look for (terminal punctuation, bullets, ellipses, braces, phrases).
AWKWARD = list("ab AZ09.!?\n\n\r\t\x0b\x0c#\u2026\u2022-*\"'\u201d\u2019\u3002{}\u0130\u03a3\u03c3\u03c2\u00e9\u0301\u4e2d") + [
    "...", "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f", "\x85", "\u2028", "\u200b", "\ufeff", "\x00", "\x7f",
    "lorem ipsum", "JavaScript", " the ", "THE", "(and)", "cookie policy", "\n\n", "\n \n", " word "]


def awkward_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(AWKWARD) for _ in range(rng.randint(0, 400))) for _ in range(count)]


def repeating_texts() -> list[str]:
    """Real text with lines, paragraphs and passages repeated, so every repetition rule has work."""
    texts = []
    for i, (_, text) in enumerate(stdlib_texts(60)):
        lines, paragraphs = text[:3000].split("\n"), text[:3000].split("\n\n")
        texts += ["\n".join(lines + lines[: i % 20]), "\n\n".join(paragraphs + paragraphs[::3]),
                  text[:800] * (1 + i % 4), " ".join(text[:2000].split()[: 50 + i])]
    return texts


def test_the_kernel_gives_every_value_the_python_definition_gives():
    texts = ([t[:6000] for _, t in stdlib_texts(150)] + repeating_texts() + awkward_texts(2000)
             + ["\n".join(GOOD), "", " ", "\n\n\n", ".....", "\ufeffThe BOM", "\u0130STANBUL \u039f\u0394\u039f\u03a3 the",
                "a\r\n\r\nb\r\n", "x" * 200_000, "word " * 30_000])
    limits = HeuristicThresholds()
    fast = measure(texts, limits)
    slow = [reference(text, limits) for text in texts]
    assert set(fast) == set(slow[0])
    for name in slow[0]:
        expected = np.array([values[name] for values in slow])
        differing = np.flatnonzero(fast[name] != expected)
        assert len(differing) == 0, f"{name}: {len(differing)} texts differ, e.g. {texts[differing[0]][:60]!r}"
    assert len({float(v) for v in fast["dup_5gram_frac"]}) > 20 and fast["c4_sentences"].max() > 10  # not all zeros


def test_a_plain_well_formed_text_passes_every_rule():
    assert reason("\n".join(GOOD)) is None


RELAX_REPETITION = {f"max_top_{n}gram_frac": 1.0 for n in (2, 3, 4)} | {f"max_dup_{n}gram_frac": 1.0 for n in range(5, 11)}


@pytest.mark.parametrize("expected, text, options", [
    ("gopher_quality:min_doc_words", "A short note about the weather and the sea.", {}),
    ("gopher_quality:max_doc_words", "\n".join(GOOD), {"max_doc_words": 60}),
    ("gopher_quality:min_avg_word_length", "\n".join(["It is an ox. He is to go in at the gate by me."] * 1
                                                     + [f"So we go up to it, as he is by me {i}." for i in range(8)]), {}),
    ("gopher_quality:max_avg_word_length", "\n".join(f"Extraordinarily {i} incomprehensible notwithstanding "
                                                     "characteristically the administrative and representatives with." for i in range(8)), {}),
    ("gopher_quality:max_symbol_word_ratio", "\n".join(GOOD) + "\n" + "# " * 30, {}),
    ("gopher_quality:max_bullet_lines_ratio", "\n".join(f"- {line}" for line in GOOD), {}),
    ("gopher_quality:max_ellipsis_lines_ratio", "\n".join(line[:-1] + "..." for line in GOOD), {}),
    ("gopher_quality:min_alpha_words_ratio", "\n".join(GOOD) + "\n" + " ".join(str(n) for n in range(200)) + ".", {}),
    ("gopher_quality:min_stop_words", "\n".join(line.replace("the ", "").replace("The ", "").replace(" and", "")
                                                .replace(" to", "").replace(" that", "").replace(" with", "")
                                                .replace(" of", "") for line in GOOD), {}),
    ("gopher_repetition:dup_para_frac", "\n\n".join([GOOD[0], GOOD[0], GOOD[0]] + GOOD[1:3]), {}),
    ("gopher_repetition:dup_line_frac", "\n".join(GOOD[:6] + GOOD[:4]), {}),
    ("gopher_repetition:top_2gram_frac", "\n".join(f"{line[:-1]}, said the data set, the data set, the data set." for line in GOOD), {}),
    ("gopher_repetition:dup_5gram_frac", "\n".join(f"{line[:-1]} as the annual report of the regional office noted." for line in GOOD),
     {f"max_top_{n}gram_frac": 1.0 for n in (2, 3, 4)}),
    ("c4:lorem_ipsum", "\n".join(GOOD) + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", {}),
    ("c4:curly_bracket", "\n".join(GOOD) + "\nThe config reads {enabled: true} by default.", {}),
    ("c4:min_sentences", "\n".join(line[:-1] for line in GOOD), {}),
    ("fineweb:line_punct_ratio", "\n".join(GOOD[:6] + [f"{line[:-1]} and then some" for line in GOOD] * 1
                                           + [f"Appendix item number {i} listed without any closing mark here" for i in range(40)]),
     RELAX_REPETITION),
    ("fineweb:short_line_ratio", "\n".join(GOOD[:5] + [f"It was day {i}." for i in range(30)]),
     RELAX_REPETITION | {"max_newline_ratio": 1.0}),
    ("fineweb:char_dup_ratio", "\n".join(GOOD + GOOD[:1]), {}),
    ("fineweb:newline_ratio", "\n".join(GOOD[:5] + [f"Cats {word(i)}." for i in range(60)]),
     RELAX_REPETITION | {"max_short_line_ratio": 1.0}),
])
def test_each_rule_is_the_reason_for_a_text_written_to_trip_it(expected, text, options):
    assert reason(text, **options) == expected


def test_unknown_option_is_a_clear_error():
    with pytest.raises(UserError, match="no option max_wordz"):
        get_scorer("heuristics", max_wordz=3)
    with pytest.raises(UserError, match="no scorer named 'nope'"):
        ScoreConfig(scorer="nope")


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("heuristics")
    texts = [t[:4000] for _, t in stdlib_texts(200)] + ["\n".join(GOOD)] * 3 + ["", "x"]
    write_jsonl(root / "in.jsonl", [{"id": f"h{i}", "text": t} for i, t in enumerate(texts) if t])
    run(str(root / "c"), IngestConfig(inputs=[InputSpec(str(root / "in.jsonl"))], shard_size=40))
    return str(root / "c")


def test_stage_writes_every_value_and_the_reasons_add_up(real_corpus, dask_address):
    from flows.stage import run_flow

    record = run(real_corpus, ScoreConfig(scorer="heuristics"))
    corpus = Corpus.open(real_corpus)
    rows = corpus.sql("SELECT * FROM heuristics").to_pylist()
    assert len(rows) == record.rows_in == corpus.rows("docs")
    assert record.rows_out == sum(r["keep"] for r in rows) and record.rows_out >= 3
    by_reason = corpus.sql("SELECT reason, count(*) AS n FROM heuristics GROUP BY reason").to_pylist()
    assert sum(r["n"] for r in by_reason) == len(rows)
    assert all(r["keep"] == (r["reason"] is None) for r in rows)
    assert {"words", "dup_5gram_frac", "c4_sentences", "newline_ratio", "gopher_quality", "fineweb"} <= set(rows[0])
    in_process = corpus.sql("SELECT * FROM heuristics ORDER BY id").to_pylist()
    corpus.forget_stages(["heuristics"])
    run_flow(real_corpus, ScoreConfig(scorer="heuristics"), dask_address)
    assert corpus.sql("SELECT * FROM heuristics ORDER BY id").to_pylist() == in_process
    assert corpus.sql("SELECT count(*) AS n FROM corpus WHERE NOT heuristics.keep").to_pylist()[0]["n"] == len(rows) - record.rows_out


def test_scoring_resumes_after_sigkill(tmp_path):
    texts = [t[:3000] for _, t in stdlib_texts(400)]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts * 5)])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=50))
    command = [*CURATE, "score", corpus_dir, "--scorer", "heuristics", "--set", "min_doc_words=40", "--workers", "1"]
    kill_once_staged(command, tmp_path / "c" / ".staging", "heuristics-*/out/part-*.parquet", count=3)
    assert Corpus.open(corpus_dir).stage("heuristics") is None, "killed too late"
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    resumed = Corpus.open(corpus_dir).sql("SELECT * FROM heuristics ORDER BY id").to_pylist()
    Corpus.open(corpus_dir).forget_stages(["heuristics"])
    run(corpus_dir, ScoreConfig(scorer="heuristics", options={"min_doc_words": 40}))
    assert Corpus.open(corpus_dir).sql("SELECT * FROM heuristics ORDER BY id").to_pylist() == resumed
