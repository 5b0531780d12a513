"""A stage written the way docs/ARCHITECTURE.md says, outside the library: attrs/toy_lengths
marks documents shorter than ``min_chars``. tests/test_stage_model.py registers and runs it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curation.corpus import write_parquet_atomic
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step, each_part


class ToyLengthsConfig(StageConfig):
    min_chars: int = Field(10, ge=0, description="Documents shorter than this are marked.")


def measure_part(plan: StagePlan, part: str) -> None:
    table = plan.corpus.read_part("docs", part, ["id", "text"])
    chars = pc.utf8_length(table["text"])
    keep = pc.greater_equal(chars, plan.config.min_chars)
    reason = pc.if_else(keep, pa.nulls(table.num_rows, pa.string()), "short")
    write_parquet_atomic(plan.corpus.fs, plan.staged_part(part),
                         pa.table({"id": table["id"], "chars": chars, "keep": keep, "reason": reason}))


def publish(plan: StagePlan) -> StageResult:
    plan.publish_staged_parts("attrs/toy_lengths")
    kept = sum(pc.sum(plan.corpus.read_part("attrs/toy_lengths", p, ["keep"])["keep"]).as_py() or 0 for p in plan.parts)
    return StageResult(sum(plan.part_rows), kept)


STAGE = Stage(name="toy_lengths", config=ToyLengthsConfig, reasons=("short",),
              steps=(Step(measure_part, over=each_part), Step(publish)))
