"""The cluster stage: hierarchical k-means over the embeddings, every document's cluster at
every level.

    run(corpus_url, ClustersConfig(k=(1000, 100, 10)))   # curation.stage.run:
        fit_clusters     one task: fit on a sample
        assign_part      map over the parts
        finish_clusters  global: publish models/kmeans and attrs/clusters

models/kmeans/ holds the centroids of each level (level-1.npy, ...), the parent of each
centroid one level up (parents-2.npy, ...) and model.json (the levels, resampling, sample
size). attrs/clusters holds, per document, ``level_1`` .. ``level_T`` and ``distance`` (L2 to
its level-1 centroid).
"""

from __future__ import annotations

import io

import numpy as np
import orjson
import pyarrow as pa
from pydantic import Field, model_validator

from curation.clusters.hierarchical import HierarchicalKMeans
from curation.corpus import Corpus, write_bytes_atomic, write_parquet_atomic
from curation.embed.stage import read_vectors, sample_vectors
from curation.errors import UserError
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part, one_task

MODEL_FOLDER = "models/kmeans"
# FAISS's own rule of thumb: more than 256 points per centroid adds time, not quality.
POINTS_PER_CENTROID = 256
# On CPUs a Lloyd iteration costs n x k1 x d; past this k1 a level-1 fit of a large corpus takes
# hours on two cores. Ask for more with --k when there is a GPU or time.
MAX_DEFAULT_K1 = 1024


def default_ks(documents: int) -> tuple[int, ...]:
    """k1 about n/50 (at most MAX_DEFAULT_K1), then ten times fewer per level, up to three
    levels, none below 2."""
    ks = [max(2, min(documents // 50, MAX_DEFAULT_K1))]
    while len(ks) < 3 and ks[-1] // 10 >= 2:
        ks.append(ks[-1] // 10)
    return tuple(ks)


class ClustersConfig(StageConfig):
    k: tuple[int, ...] | None = Field(None, description="Clusters per level, e.g. 1000,100,10 (default from the corpus size).")
    resample_steps: tuple[int, ...] | None = Field(None, description="Resampling steps per level, e.g. 3,3,3 (default 3 each).")
    resample_sizes: tuple[int, ...] | None = Field(
        None, description="Points kept per cluster when resampling, per level (default half the mean cluster size).")
    iterations: int = Field(20, ge=1, description="Lloyd iterations per k-means.")
    sample: int | None = Field(None, ge=1, description="Fit on this many vectors (default min(n, 256 x k1)).")
    spherical: bool = Field(False, description="Spherical k-means (centroids on the unit sphere).")
    seed: int = Field(0, description="Seed of the sample and the k-means.")

    @model_validator(mode="after")
    def _levels_agree(self) -> ClustersConfig:
        if self.k:
            self.estimator(self.k)  # checks the per-level lists
        elif self.resample_steps or self.resample_sizes:
            raise ValueError("per-level resampling settings need the levels too: give k (e.g. 1000,100,10)")
        return self

    def estimator(self, ks: tuple[int, ...]) -> HierarchicalKMeans:
        return HierarchicalKMeans(ks, self.resample_steps, self.resample_sizes, self.iterations, self.spherical, self.seed)


def _staged_model(plan: StagePlan, name: str) -> str:
    return f"{plan.staging}/model/{name}"


def fit_clusters(plan: StagePlan, _task: str) -> None:
    """Fit the hierarchy on a seeded uniform sample of the embeddings."""
    corpus, config = plan.corpus, plan.config
    total = sum(plan.part_rows)
    ks = config.k or default_ks(total)
    size = min(total, config.sample or POINTS_PER_CENTROID * ks[0])
    model = config.estimator(ks).fit(sample_vectors(plan, size, config.seed))
    for level, centroids in enumerate(model.centroids_, start=1):
        _save_array(corpus, _staged_model(plan, f"level-{level}.npy"), centroids)
    for level, parents in enumerate(model.parents_, start=2):
        _save_array(corpus, _staged_model(plan, f"parents-{level}.npy"), parents)
    description = {"ks": [len(c) for c in model.centroids_], "requested_ks": list(ks), "sample": size,
                   "documents": total, "settings": config.model_dump(mode="json")}
    write_bytes_atomic(corpus.fs, _staged_model(plan, "model.json"), orjson.dumps(description, option=orjson.OPT_INDENT_2))


def _save_array(corpus: Corpus, path: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes_atomic(corpus.fs, path, buffer.getvalue())


def _load_array(corpus: Corpus, path: str) -> np.ndarray:
    with corpus.fs.open(path, "rb") as handle:
        return np.load(io.BytesIO(handle.read()))


def load_hierarchy(corpus: Corpus, folder: str | None = None) -> HierarchicalKMeans:
    """The fitted hierarchy in ``folder`` (default the corpus's models/kmeans)."""
    folder = folder or corpus.path(MODEL_FOLDER)
    if not corpus.fs.exists(f"{folder}/model.json"):
        raise UserError(f"{corpus.url} has no clusters yet; run `curate clusters {corpus.url}` first")
    with corpus.fs.open(f"{folder}/model.json", "rb") as handle:
        description = orjson.loads(handle.read())
    model = ClustersConfig(**description["settings"]).estimator(tuple(description["ks"]))
    model.centroids_ = [_load_array(corpus, f"{folder}/level-{t}.npy") for t in range(1, len(description["ks"]) + 1)]
    model.parents_ = [_load_array(corpus, f"{folder}/parents-{t}.npy") for t in range(2, len(description["ks"]) + 1)]
    return model


def assign_part(plan: StagePlan, part: str) -> None:
    corpus = plan.corpus
    model = load_hierarchy(corpus, f"{plan.staging}/model")
    ids, vectors = read_vectors(corpus, part)
    labels, distance = model.predict(vectors)
    columns = {"id": ids}
    for level in range(labels.shape[1]):
        columns[f"level_{level + 1}"] = pa.array(labels[:, level].astype(np.int32))
    columns["distance"] = pa.array(distance)
    write_parquet_atomic(corpus.fs, plan.staged_part(part), pa.table(columns))


def finish_clusters(plan: StagePlan) -> StageResult:
    corpus = plan.corpus
    plan.publish_staged_parts("attrs/clusters")
    corpus.publish(f"{plan.staging}/model", MODEL_FOLDER)
    rows = sum(plan.part_rows)
    return StageResult(rows, rows, {"ks": [len(c) for c in load_hierarchy(corpus).centroids_]})


STAGE = Stage(
    name="clusters",
    config=ClustersConfig,
    reads=("ingest", "embed"),
    writes=("attrs/{name}", MODEL_FOLDER),
    steps=(Step(fit_clusters, over=one_task), Step(assign_part, over=each_part), Step(finish_clusters)),
)
