"""The one list of stages. The pipeline's order, the checksummed tables, the names a score
table may not take and the modules Dask workers import all come from it.

Stages are listed by module so that importing the registry imports no stage (the command line
starts fast, and no module imports a stage module only to find the others).
"""

from __future__ import annotations

import importlib
from functools import cache

from curation.errors import UserError
from curation.stage import Stage, StageConfig

STAGE_MODULES = (
    "curation.ingest.stage",
    "scorers.stage",
    "curation.tokens",
    "curation.exact_dedup",
    "curation.minhash.stage",
    "curation.embed.stage",
    "curation.clusters.stage",
    "curation.semdedup",
    "curation.ablate.stage",
)
# Views every corpus has besides its stages' (sql/views.sql).
CORPUS_VIEWS = ("docs", "corpus", "rejects", "stages")


_extra: list[str] = []  # stage modules added at run time (a test's or a plugin's)


def register(module: str) -> None:
    """Add the stage declared as ``STAGE`` in ``module``; its place follows from what it reads."""
    if module not in STAGE_MODULES and module not in _extra:
        _extra.append(module)
        stages.cache_clear()


@cache
def stages() -> tuple[Stage, ...]:
    """Every stage in pipeline order: each after the stages it reads, otherwise as listed."""
    listed = [importlib.import_module(module).STAGE for module in (*STAGE_MODULES, *_extra)]
    return tuple(pipeline_order(listed))


def pipeline_order(listed: list[Stage]) -> list[Stage]:
    names = {stage.name for stage in listed}
    placed: list[Stage] = []
    waiting = list(listed)
    while waiting:
        ready = next((s for s in waiting if all(d in {p.name for p in placed} or d not in names
                                                 for d in (*s.reads, *s.reads_if_present))), None)
        if ready is None:
            raise RuntimeError(f"stages read each other in a circle: {', '.join(s.name for s in waiting)}")
        placed.append(ready)
        waiting.remove(ready)
    return placed


def pipeline_rank(name: str) -> int:
    """Where stage ``name`` runs in the pipeline (unknown names last)."""
    names = [stage.name for stage in stages()]
    return names.index(name) if name in names else len(names)


def stage_named(name: str) -> Stage:
    for stage in stages():
        if stage.name == name:
            return stage
    raise KeyError(name)


def stage_of(config: StageConfig) -> Stage:
    for stage in stages():
        if isinstance(config, stage.config):
            return stage
    raise TypeError(f"no stage takes a {type(config).__name__}")


def reserved_names() -> set[str]:
    """Names a score table or an ablation may not take: every other stage's and the corpus's own views."""
    return {*CORPUS_VIEWS, *(stage.name for stage in stages() if stage.instance is None)}


def check_instance_name(name: str, what: str, corpus=None, stage: str | None = None) -> str:
    """The name of a stage's instance (a score table, an ablation) names its record in corpus.json
    and a view: not a corpus view's, nor another stage's, nor, in ``corpus``, another kind of
    instance's already recorded."""
    from curation.select.store import check_name

    if check_name(name, what) in reserved_names():
        raise UserError(f"{name!r} is taken by the corpus's own views; choose another name")
    record = corpus.records().get(name) if corpus is not None else None
    if record is not None and declaration(record) != stage:
        raise UserError(f"{name!r} is taken by the {declaration(record)} stage's {name}; choose another name")
    return name


def declaration(record) -> str:
    """The stage a record is of (records from before ``stage`` was recorded: score tables by their config)."""
    return record.stage or ("score" if "scorer" in record.config else record.name)


def table_writers(corpus) -> dict[str, str]:
    """Each table or folder a finished stage of ``corpus`` wrote, and that stage's name."""
    writers = {}
    for record in corpus.records().values():
        writers |= {table: record.name for table in stage_named(declaration(record)).tables(record.name)}
    return writers


def worker_modules(prefect: bool) -> list[str]:
    """What a Dask worker imports before its first task: the stage modules, and, when its tasks
    report to Prefect, the Prefect task engine and our flows (two seconds and more; the flow
    engine for the drivers the local runtime runs on its workers). Those long-lived workers also
    import pandas, which pyarrow imports on its first ``pa.array`` of a Python list (0.7 s,
    inside the first command's task otherwise)."""
    flows = ("prefect.task_engine", "prefect.flow_engine", "prefect_dask.task_runners",
             "flows.stage", "flows.pipeline", "flows.remote", "pandas")
    return [*(flows if prefect else ()), *STAGE_MODULES, *_extra]
