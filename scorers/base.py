"""What a scorer is: a ``name``, the Arrow ``schema`` of what it writes (besides ``id``), and
``score(batch) -> table`` over a record batch of documents (id, text, source, domain, ...),
one output row per document in order. Trainable scorers add ``fit``. Scorers are constructed
from keyword options; an unknown option is a user error that names it.

    scorer = get_scorer("heuristics", min_doc_words=20)
    table = scorer.score(batch)
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod

import pyarrow as pa

from curation.errors import UserError


class Scorer(ABC):
    name: str
    # Documents the scorer must see before it scores (e.g. to turn "the top 10%" into a threshold).
    calibration_sample: int = 0

    @property
    @abstractmethod
    def schema(self) -> pa.Schema: ...

    @abstractmethod
    def score(self, batch: pa.RecordBatch) -> pa.Table: ...

    def calibrate(self, sample: list[str]) -> dict:
        """Options fixed from a uniform sample of the corpus's texts, given to every part's scorer."""
        return {}

    def reject_options(self, unknown: set[str]) -> None:
        raise UserError(f"scorer {self.name} has no option {', '.join(sorted(unknown))}")


# Each scorer by name, as "module:class", so that this module imports none of them (they import
# it) and a run imports only the scorers it uses.
SCORERS = {
    "heuristics": "scorers.heuristics:HeuristicsScorer",
    "langid": "scorers.langid:LanguageScorer",
    "quality_fasttext": "scorers.fasttext_quality:QualityScorer",
    "dataman": "scorers.dataman.scorer:DataManScorer",
    "reference_loss": "scorers.reference_loss:ReferenceLossScorer",
}


def scorer_class(name: str) -> type[Scorer]:
    if name not in SCORERS:
        raise UserError(f"no scorer named {name!r}; scorers are: {', '.join(sorted(SCORERS))}")
    module, _, cls = SCORERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def get_scorer(name: str, **options) -> Scorer:
    return scorer_class(name)(**options)
