"""Token counts for budgets, as a SQL expression over the ``corpus`` view: the ``tokens`` attrs
when the corpus has them (`curate score DIR --scorer tokens`, GPT-2's BPE by default), otherwise
an estimate of one token per 4 characters. The estimate's error against GPT-2 is measured in the
README (English prose is close; code, markup and other languages are not)."""

from __future__ import annotations

from curation.corpus import Corpus

CHARS_PER_TOKEN = 4
ESTIMATE = "estimate: characters / 4"


def tokens_sql(corpus: Corpus) -> tuple[str, str]:
    """(the SQL expression, what it counts with)."""
    if corpus.is_current("tokens"):
        return "tokens.tokens", corpus.stage("tokens").config["options"].get("tokenizer", "gpt2")
    return f"greatest(1, ceil(length(text) / {CHARS_PER_TOKEN}))::BIGINT", ESTIMATE
