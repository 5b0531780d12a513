"""`curate distill-dataman`: rate a seeded sample of the corpus with a DataMan rater (a server or a
local model), train a DistilledRater on the rated part, and measure it on a held-out split:
Spearman's rho with the rater per criterion and the domain accuracy.

    metrics = distill_dataman(corpus_url, "dataman_fast", {"base_url": ..., "model": ...}, sample=5000)
    # models/dataman_fast/{distilled.npz, metadata.json, annotations.parquet}
    # then: curate score DIR --scorer dataman --set backend=distilled --set model=DIR/models/dataman_fast
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from curation.corpus import Corpus, write_bytes_atomic, write_parquet_atomic
from curation.errors import UserError
from curation.progress import progress
from curation.stage import sample_documents
from scorers.dataman.distill import DistilledRater
from scorers.dataman.prompts import COLUMNS
from scorers.dataman.scorer import DISTILLED_FILE, DataManScorer
from scorers.metrics import spearman

MIN_RATED = 50
RATING_BATCH = 256


def annotate_sample(corpus: Corpus, rater: DataManScorer, sample: int, seed: int) -> pa.Table:
    """id and text of a seeded uniform sample, with the rater's columns."""
    documents = sample_documents(corpus, sample, seed, ["id", "text"])
    tables = []
    with progress("rating", documents.num_rows, "docs") as advance:
        for batch in documents.to_batches(RATING_BATCH):
            rated = rater.score(batch)
            tables.append(pa.Table.from_arrays([batch.column("id"), batch.column("text"), *rated.columns],
                                               names=["id", "text", *rated.column_names]))
            advance(batch.num_rows)
    return pa.concat_tables(tables)


def held_out_metrics(rater: DistilledRater, texts: list[str], scores: np.ndarray, domains: np.ndarray) -> dict:
    predicted, predicted_domains = rater.predict(texts)
    return {
        "spearman": {column: spearman(predicted[:, i], scores[:, i]) for i, column in enumerate(COLUMNS)},
        "domain_accuracy": float((predicted_domains == domains).mean()),
        "exact_overall": float((np.rint(predicted[:, -1]) == scores[:, -1]).mean()),
    }


def distill_dataman(corpus_url: str, name: str, rater_options: dict, sample: int = 5000, holdout: float = 0.2,
                    seed: int = 0) -> dict:
    corpus = Corpus.open(corpus_url)
    if rater_options.get("backend", "openai") == "distilled":
        raise UserError("distill from a rater (backend openai or hf), not from a distilled model")
    annotations = annotate_sample(corpus, DataManScorer(**rater_options), sample, seed)
    rated = annotations.filter(pc.field("rated"))
    if rated.num_rows < MIN_RATED:
        errors = pc.drop_null(annotations["error"]).to_pylist()
        raise UserError(f"only {rated.num_rows} of {annotations.num_rows} sampled documents were rated "
                        f"(need {MIN_RATED}); first error: {errors[0] if errors else 'none'}")
    texts = rated["text"].to_pylist()
    scores = np.stack([rated[column].to_numpy().astype(np.float64) for column in COLUMNS], axis=1)
    domains = np.array(rated["domain"].to_pylist())
    order = np.random.default_rng(seed).permutation(len(texts))
    cut = max(1, int(len(texts) * holdout))
    held, train = order[:cut], order[cut:]
    model = DistilledRater(seed=seed).fit([texts[i] for i in train], scores[train], list(domains[train]))
    metrics = held_out_metrics(model, [texts[i] for i in held], scores[held], domains[held])
    metrics |= {"sampled": annotations.num_rows, "rated": rated.num_rows, "train": len(train), "held_out": len(held),
                "penalties": model.penalties_.tolist()}

    folder = corpus.path("models", name)
    corpus.fs.makedirs(folder, exist_ok=True)
    write_bytes_atomic(corpus.fs, f"{folder}/{DISTILLED_FILE}", model.to_bytes())
    write_parquet_atomic(corpus.fs, f"{folder}/annotations.parquet", annotations.drop_columns(["text"]))
    options = {key: value for key, value in rater_options.items() if key != "api_key_env"}
    metadata = {"rater": options, "sample": sample, "holdout": holdout, "seed": seed, "docs": corpus.docs_fingerprint(),
                "metrics": metrics}
    write_bytes_atomic(corpus.fs, f"{folder}/metadata.json", orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
    return metrics
