"""fastText quality classifiers, the DCLM recipe (Li et al. 2024, arXiv:2406.11794).

    metrics = train_quality(corpus, positive="source = 'python-doc'", negative="source = 'fortunes'",
                            name="quality_docs")          # models/quality_docs/{model.bin,metadata.json}
    scorer = QualityScorer(model="<corpus>/models/quality_docs/model.bin", threshold=0.5)

Training lines are ``__label__hq <text>`` and ``__label__cc <text>`` with the text's newlines as
spaces (DCLM's preprocessing, used again at inference: fastText reads one line), word bigrams, and
DCLM's fastText settings (lr 0.1, dim 100, ws 5, epoch 5, minCount 1). A seeded share of each side
is held out, and the held-out ROC AUC and the precision and recall at the threshold are printed
and kept with the model. Scoring works with any fastText model file (DCLM's or FineWeb's published
ones too): ``score`` is P(positive label).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from curation.corpus import Corpus, write_bytes_atomic
from curation.errors import UserError
from scorers.base import Scorer
from scorers.metrics import roc_auc

POSITIVE, NEGATIVE = "hq", "cc"
DCLM = {"lr": 0.1, "dim": 100, "ws": 5, "epoch": 5, "minCount": 1, "wordNgrams": 2}
# fastText's product quantisation of the rows with the largest norms (its `quantize -cutoff`,
# with sub-vectors of QUANTIZE_DSUB dimensions): DCLM's 2M bigram buckets make a 950 MB model even
# from a few thousand documents; quantised, the demo's is 0.43 MB for 0.0001 of held-out ROC AUC,
# in 4 s. The fewest rows that cost less than MAX_AUC_LOSS are kept; none, the whole model.
QUANTIZE_CUTOFFS = (10_000, 50_000)
QUANTIZE_DSUB = 8
MAX_AUC_LOSS = 0.005


def fasttext_line(text: str) -> str:
    return " ".join(text.strip().splitlines())


def training_texts(corpus: Corpus, source: str) -> list[str]:
    """Texts from a JSONL or Parquet file (its ``text`` field), a SQL query over the corpus views
    (its ``text`` column), or a condition on the ``corpus`` view."""
    path = Path(source)
    if path.is_file():
        table = pq.read_table(path) if path.suffix == ".parquet" else pajson.read_json(path)
        return table["text"].to_pylist()
    query = source if source.lstrip().upper().startswith(("SELECT", "WITH")) else f"SELECT text FROM corpus WHERE {source}"
    table = corpus.sql(query)
    if "text" not in table.column_names:
        raise UserError(f"the query for training texts must return a text column: {source}")
    # DuckDB returns rows in no fixed order; sorted, the seeded held-out split is the same every run.
    return sorted(table["text"].to_pylist())


def top_share_threshold(scores: np.ndarray, weights: np.ndarray, share: float) -> float:
    """The score at which the documents scoring at least it first hold ``share`` of the total
    weight (documents, or characters), taking documents from the best down."""
    order = np.argsort(-scores, kind="stable")
    cumulative = np.cumsum(weights[order])
    last = min(int(np.searchsorted(cumulative, share * cumulative[-1])), len(order) - 1)
    return float(scores[order[last]])


def train_quality(corpus_url: str, positive: str, negative: str, name: str, holdout: float = 0.1,
                  threshold: float = 0.5, seed: int = 0, quantize: bool = True, **hyperparameters) -> dict:
    """Train, measure on the held-out share, quantise when that costs less than MAX_AUC_LOSS
    of ROC AUC, and keep models/<name>/model.bin (a quantised model is a fastText .ftz file under
    that name) with metadata.json. ``hyperparameters`` override DCLM's fastText settings (e.g.
    ``bucket``)."""
    import fasttext

    corpus = Corpus.open(corpus_url)
    sides = {POSITIVE: training_texts(corpus, positive), NEGATIVE: training_texts(corpus, negative)}
    for label, texts in sides.items():
        if len(texts) < 10:
            raise UserError(f"the {'positive' if label == POSITIVE else 'negative'} set has {len(texts)} texts; give at least 10")
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label, texts in sides.items():
        order = rng.permutation(len(texts))
        cut = max(1, int(len(texts) * holdout))
        held += [(texts[i], label == POSITIVE) for i in order[:cut]]
        train += [f"__label__{label} {fasttext_line(texts[i])}" for i in order[cut:]]
    rng.shuffle(train)
    settings = {**DCLM, **hyperparameters}
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "train.txt"
        lines.write_text("\n".join(train) + "\n")
        try:
            model = fasttext.train_supervised(str(lines), seed=seed, thread=1, verbose=0, **settings)
        except (TypeError, ValueError) as error:
            raise UserError(f"fastText refused the settings {hyperparameters}: {error}") from None
        held_texts, labels = [text for text, _ in held], np.array([is_positive for _, is_positive in held])
        scores = QualityScorer.probability(model, held_texts)
        full = Path(tmp) / "model.bin"
        model.save_model(str(full))
        saved, quantized = full, None
        if quantize:
            quantized = {"roc_auc_unquantized": roc_auc(scores, labels), "bytes_unquantized": full.stat().st_size}
            for cutoff in QUANTIZE_CUTOFFS:
                model = fasttext.load_model(str(full))
                model.quantize(qnorm=True, retrain=False, cutoff=cutoff, dsub=QUANTIZE_DSUB, thread=1)
                smaller = QualityScorer.probability(model, held_texts)
                quantized |= {"cutoff": cutoff, "roc_auc": roc_auc(smaller, labels)}
                if quantized["roc_auc_unquantized"] - quantized["roc_auc"] < MAX_AUC_LOSS:
                    saved, scores = Path(tmp) / "model.ftz", smaller
                    model.save_model(str(saved))
                    break
            quantized["kept"] = saved != full
        chosen = scores >= threshold
        metrics = {
            "roc_auc": roc_auc(scores, labels),
            "threshold": threshold,
            "precision": float(labels[chosen].mean()) if chosen.any() else 0.0,
            "recall": float(chosen[labels].mean()),
            "train": len(train), "held_out": len(held),
            "bytes": saved.stat().st_size, "quantized": quantized,
        }
        folder = corpus.path("models", name)
        corpus.fs.makedirs(folder, exist_ok=True)
        write_bytes_atomic(corpus.fs, f"{folder}/model.bin", saved.read_bytes())
    metadata = {"recipe": "DCLM fastText", "labels": {"positive": POSITIVE, "negative": NEGATIVE},
                "positive": positive, "negative": negative, "fasttext": settings, "holdout": holdout,
                "seed": seed, "quantize": _quantize_policy(quantize), "docs": corpus.docs_fingerprint(),
                "metrics": metrics}
    write_bytes_atomic(corpus.fs, f"{folder}/metadata.json", orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
    return metrics


def _quantize_policy(quantize: bool) -> dict | None:
    return {"cutoffs": list(QUANTIZE_CUTOFFS), "dsub": QUANTIZE_DSUB, "max_auc_loss": MAX_AUC_LOSS} if quantize else None


def quality_model(corpus_url: str, positive: str, negative: str, name: str, holdout: float = 0.1,
                  threshold: float = 0.5, seed: int = 0) -> tuple[str, dict]:
    """models/<name>/model.bin and its metrics, trained unless the model there was trained the
    same way on the same documents (a pipeline rerun does not retrain)."""
    corpus = Corpus.open(corpus_url)
    folder = corpus.path("models", name)
    wanted = {"positive": positive, "negative": negative, "holdout": holdout, "seed": seed,
              "fasttext": DCLM, "quantize": _quantize_policy(True), "docs": corpus.docs_fingerprint()}
    if corpus.fs.exists(f"{folder}/metadata.json") and corpus.fs.exists(f"{folder}/model.bin"):
        metadata = orjson.loads(corpus.fs.cat_file(f"{folder}/metadata.json"))
        if {key: metadata.get(key) for key in wanted} == wanted and metadata["metrics"]["threshold"] == threshold:
            return f"{folder}/model.bin", metadata["metrics"]
    return f"{folder}/model.bin", train_quality(corpus_url, positive, negative, name, holdout, threshold, seed)


_MODELS: dict[str, object] = {}


class QualityScorer(Scorer):
    """A fastText quality classifier (DCLM recipe or any fastText model file): P(positive).

    ``threshold`` keeps documents with score >= it; ``top_percent`` instead keeps the top that
    percent of documents (``top_by=docs``) or of characters (``top_by=chars``, as PreSelect does),
    the threshold found on a seeded uniform sample of ``sample`` documents (DCLM: a percentile
    threshold is specific to its pool, so it is always recomputed on this corpus)."""

    name = "quality_fasttext"

    def __init__(self, model: str | None = None, threshold: float | None = None, positive_label: str = POSITIVE,
                 top_percent: float | None = None, top_by: str = "docs", sample: int = 100_000):
        if not model or not Path(model).is_file():
            raise UserError(f"quality_fasttext needs --set model=PATH of a fastText model file (not {model!r}); "
                            "`curate train-quality` makes one")
        if top_percent is not None and not 0 < top_percent <= 100:
            raise UserError(f"quality_fasttext top_percent is a percentage in (0, 100], not {top_percent!r}")
        if top_by not in ("docs", "chars"):
            raise UserError(f"quality_fasttext top_by is docs or chars, not {top_by!r}")
        self.model_path, self.threshold, self.positive_label = model, threshold, positive_label
        self.top_percent, self.top_by = top_percent, top_by
        # A threshold given (or calibrated) wins; top_percent then only says how it was found.
        self.calibration_sample = sample if top_percent is not None and threshold is None else 0

    def calibrate(self, sample: list[str]) -> dict:
        scores = self.probability(self._model(), sample, self.positive_label)
        weights = np.array([len(t) for t in sample], dtype=np.float64) if self.top_by == "chars" else np.ones(len(sample))
        return {"threshold": top_share_threshold(scores, weights, self.top_percent / 100)}

    @property
    def schema(self) -> pa.Schema:
        fields = [("score", pa.float32())]
        if self.threshold is not None:
            fields += [("keep", pa.bool_()), ("reason", pa.string())]
        return pa.schema(fields)

    @staticmethod
    def probability(model, texts: list[str], positive_label: str = POSITIVE) -> np.ndarray:
        """P(positive) from a binary model's top prediction (1 - p when the top label is the other)."""
        labels, probabilities = model.predict([fasttext_line(t) for t in texts], k=1)
        top = np.array([p[0] for p in probabilities], dtype=np.float32)
        positive = np.array([label[0] == f"__label__{positive_label}" for label in labels])
        return np.clip(np.where(positive, top, 1 - top), 0, 1)

    def _model(self):
        if self.model_path not in _MODELS:
            import fasttext

            _MODELS[self.model_path] = fasttext.load_model(self.model_path)
        return _MODELS[self.model_path]

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        scores = self.probability(self._model(), batch.column("text").to_pylist(), self.positive_label)
        columns = {"score": scores}
        if self.threshold is not None:
            keep = scores >= self.threshold
            columns.update(keep=keep, reason=np.where(keep, None, "quality_fasttext:below_threshold"))
        return pa.table(columns, schema=self.schema)
