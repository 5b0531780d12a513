"""The cluster stage: hierarchical k-means over the embeddings, every document's cluster at
every level.

    plan = plan_stage(corpus, STAGE, ClusterConfig())
    fit_clusters(plan)                               # global: fit on a sample
    for part in plan.parts: assign_part(plan, part)  # map, in parallel
    finish_clusters(plan)

models/kmeans/ holds the centroids of each level (level-1.npy, ...), the parent of each
centroid one level up (parents-2.npy, ...) and model.json (the levels, resampling, sample
size). attrs/clusters holds, per document, ``level_1`` .. ``level_T`` and ``distance`` (L2 to
its level-1 centroid).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import orjson
import pyarrow as pa

from curation.cluster.hierarchical import HierarchicalKMeans
from curation.corpus import Corpus, StageRecord, write_bytes_atomic, write_parquet_atomic
from curation.embed.stage import embeddings_fingerprint, read_vectors
from curation.errors import UserError
from curation.fingerprint import fingerprint
from curation.stages import StagePlan, finish_stage, run_in_process

STAGE = "clusters"
MODEL_FOLDER = "models/kmeans"
# FAISS's own rule of thumb: more than 256 points per centroid adds time, not quality.
POINTS_PER_CENTROID = 256
# On CPUs a Lloyd iteration costs n x k1 x d; past this k1 a level-1 fit of a large corpus takes
# hours on two cores. Ask for more with --k when there is a GPU or time.
MAX_DEFAULT_K1 = 1024


def default_ks(documents: int) -> tuple[int, ...]:
    """§4.7: k1 about n/50 (at most MAX_DEFAULT_K1), then ten times fewer per level, up to three
    levels, none below 2."""
    ks = [max(2, min(documents // 50, MAX_DEFAULT_K1))]
    while len(ks) < 3 and ks[-1] // 10 >= 2:
        ks.append(ks[-1] // 10)
    return tuple(ks)


@dataclass(frozen=True)
class ClusterConfig:
    ks: tuple[int, ...] | None = None  # k per level; default from the corpus size
    resample_steps: tuple[int, ...] | None = None  # per level; default 3
    resample_sizes: tuple[int, ...] | None = None  # per level; default half the mean cluster size
    iterations: int = 20
    sample: int | None = None  # points level 1 is fitted on; default min(n, 256 x k1)
    spherical: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.sample is not None and self.sample < 1:
            raise UserError("--sample must be at least 1")
        if self.ks:
            self.estimator(self.ks)  # checks the per-level lists
        elif self.resample_steps or self.resample_sizes:
            raise UserError("per-level resampling settings need the levels too: give --k (e.g. --k 1000,100,10)")

    def estimator(self, ks: tuple[int, ...]) -> HierarchicalKMeans:
        return HierarchicalKMeans(ks, self.resample_steps, self.resample_sizes, self.iterations, self.spherical, self.seed)

    def extra_inputs(self, corpus: Corpus) -> list[str]:
        return [embeddings_fingerprint(corpus)]


def clusters_are_current(corpus: Corpus) -> bool:
    """Whether attrs/clusters was made from the documents and embeddings the corpus has now."""
    record = corpus.stage(STAGE)
    inputs = fingerprint([corpus.docs_fingerprint(), embeddings_fingerprint(corpus)])
    return record is not None and record.input_fingerprint == inputs


def _staged_model(plan: StagePlan, name: str) -> str:
    return f"{plan.staging}/model/{name}"


def fit_clusters(plan: StagePlan) -> None:
    """Fit the hierarchy on a seeded uniform sample of the embeddings (once per staging area)."""
    corpus, config = plan.corpus, ClusterConfig(**plan.config)
    if corpus.fs.exists(_staged_model(plan, "model.json")):
        return
    total = sum(plan.part_rows)
    ks = tuple(config.ks) if config.ks else default_ks(total)
    size = min(total, config.sample or POINTS_PER_CENTROID * ks[0])
    sample = [read_vectors(corpus, part)[1][local] for part, local in plan.sample_rows(size, config.seed)]
    model = config.estimator(ks).fit(np.concatenate(sample))
    for level, centroids in enumerate(model.centroids_, start=1):
        _save_array(corpus, _staged_model(plan, f"level-{level}.npy"), centroids)
    for level, parents in enumerate(model.parents_, start=2):
        _save_array(corpus, _staged_model(plan, f"parents-{level}.npy"), parents)
    description = {"ks": [len(c) for c in model.centroids_], "requested_ks": list(ks), "sample": size,
                   "documents": total, "settings": asdict(config)}
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
        raise UserError(f"{corpus.url} has no clusters yet; run `curate cluster {corpus.url}` first")
    with corpus.fs.open(f"{folder}/model.json", "rb") as handle:
        description = orjson.loads(handle.read())
    model = ClusterConfig(**_tuples(description["settings"])).estimator(tuple(description["ks"]))
    model.centroids_ = [_load_array(corpus, f"{folder}/level-{t}.npy") for t in range(1, len(description["ks"]) + 1)]
    model.parents_ = [_load_array(corpus, f"{folder}/parents-{t}.npy") for t in range(2, len(description["ks"]) + 1)]
    return model


def _tuples(settings: dict) -> dict:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()}


def assign_part(plan: StagePlan, part: str) -> None:
    corpus = plan.corpus
    target = plan.staged_part(part)
    if corpus.fs.exists(target):
        return
    model = load_hierarchy(corpus, f"{plan.staging}/model")
    ids, vectors = read_vectors(corpus, part)
    labels, distance = model.predict(vectors)
    columns = {"id": ids}
    for level in range(labels.shape[1]):
        columns[f"level_{level + 1}"] = pa.array(labels[:, level].astype(np.int32))
    columns["distance"] = pa.array(distance)
    write_parquet_atomic(corpus.fs, target, pa.table(columns))


def finish_clusters(plan: StagePlan) -> StageRecord:
    corpus = plan.corpus
    plan.check_staged_parts("assignments")
    corpus.remove_table(MODEL_FOLDER)
    corpus.fs.makedirs(corpus.path("models"), exist_ok=True)
    corpus.fs.mv(f"{plan.staging}/model", corpus.path(MODEL_FOLDER), recursive=True)
    plan.publish_staged_parts(f"attrs/{STAGE}")
    model = load_hierarchy(corpus)
    rows = sum(plan.part_rows)
    return finish_stage(plan, rows, rows, {"ks": [len(c) for c in model.centroids_]})


def cluster(corpus_url: str, config: ClusterConfig | None = None) -> StageRecord:
    """The whole stage in this process (no Prefect, no Dask)."""
    return run_in_process(corpus_url, STAGE, config or ClusterConfig(), assign_part, finish_clusters, fit_clusters)
