"""Language id: accuracy on real translated text, the language filter, the stage, clear errors."""

from __future__ import annotations

import pytest
from conftest import write_jsonl
from languages import locale_sample

from curation import Corpus
from curation.errors import UserError
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from scorers.langid import LanguageScorer
from scorers.stage import ScoreConfig

ENGLISH = ("The committee met on Tuesday to review the budget and the plans for next year, "
           "and several members argued that the library should open earlier.")


def test_accuracy_on_translated_messages_of_fifteen_languages():
    sample = locale_sample(per_language=40)
    assert len({language for _, language in sample}) == 15
    predicted, confidence = LanguageScorer().predict([text for text, _ in sample])
    accuracy = sum(p == language for p, (_, language) in zip(predicted, sample, strict=True)) / len(sample)
    assert accuracy >= 0.95, accuracy
    assert min(confidence) > 0.0


def test_language_filter_and_stage(tmp_path):
    sample = locale_sample(per_language=5)
    records = [{"id": f"l{i}", "text": text} for i, (text, _) in enumerate(sample)]
    records += [{"id": f"e{i}", "text": f"{ENGLISH} Item {i}."} for i in range(10)]
    write_jsonl(tmp_path / "in.jsonl", records)
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    record = run(str(tmp_path / "c"), ScoreConfig(scorer="langid", options={"languages": ["en"]}))
    rows = {r["id"]: r for r in Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM langid").to_pylist()}
    assert record.rows_out == 10 == sum(r["keep"] for r in rows.values())
    assert all(rows[f"e{i}"]["language"] == "en" and rows[f"e{i}"]["reason"] is None for i in range(10))
    assert rows["l0"]["reason"] == f"langid:{sample[0][1]}"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="run scripts/fetch-models"):
        ScoreConfig(scorer="langid", options={"model": str(tmp_path / "nope.ftz")})
