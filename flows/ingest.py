"""The ingest flow: plan in the flow, one Dask task per input unit, assemble in the flow."""

from __future__ import annotations

from prefect import flow, task, unmapped
from prefect.cache_policies import NONE
from prefect.futures import as_completed

from curation.corpus import Corpus
from curation.ingest.stage import (
    IngestOptions,
    IngestPlan,
    IngestSummary,
    corpus_for_ingest,
    finish_ingest,
    ingest_plan_unit,
    pending_units,
    plan_ingest,
)
from curation.ingest.unit_ingest import UnitResult
from curation.ingest.units import IngestUnit, InputSpec
from curation.progress import progress
from flows.runtime import task_runner


# Stages resume from their own staging areas, so Prefect caches nothing.
@task(name="ingest-unit", retries=1, cache_policy=NONE)
def ingest_unit_task(plan: IngestPlan, unit: IngestUnit) -> UnitResult:
    return ingest_plan_unit(plan, unit)


@flow(name="ingest", log_prints=True)
def ingest_flow(corpus_url: str, specs: list[InputSpec], options: IngestOptions) -> IngestSummary:
    plan = plan_ingest(Corpus.open(corpus_url), specs, options)
    units = pending_units(plan)
    futures = ingest_unit_task.map(unmapped(plan), units)
    results = []
    with progress("ingest", len(units), "inputs") as advance:
        for future in as_completed(futures):
            results.append(future.result())
            advance()
    return finish_ingest(plan, results)


def run_ingest(corpus_url: str, specs: list[InputSpec], options: IngestOptions,
               dask_address: str) -> IngestSummary:
    """Take the corpus lock and run the flow on Dask."""
    corpus = corpus_for_ingest(corpus_url, specs)
    with corpus.writer_lock("ingest"):
        return ingest_flow.with_options(task_runner=task_runner(dask_address))(corpus_url, specs, options)
