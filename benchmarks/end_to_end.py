"""The whole default pipeline on real text at two sizes: wall time per stage and peak RSS of the
whole process tree, to show that time grows with the data and memory does not.

    python benchmarks/end_to_end.py [--sizes 1024 2048]

Text: Linux documentation and Python sources in documents of a few KB (benchmarks/common.py).
Stages: heuristics, language id, exact, MinHash and semantic dedup, static embeddings,
hierarchical k-means, a selection by SQL and a mixture with an upsampling phase.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import datetime
from pathlib import Path

import orjson
from common import HERE, make_data, measure_processes

PIPELINE = """
corpus: corpus
inputs: [{{path: {data}, source: web, domain: web}}]
ingest: {{shard_size: 20000}}
stages:
  scores: [{{scorer: heuristics}}, {{scorer: langid}}]
  exact_dedup: {{scope: global}}
  minhash: {{threshold: 0.8}}
  embed: {{encoder: static, max_chars: 2000}}
  clusters: {{iterations: 20}}
  semdedup: {{eps: [0.05]}}
selections:
  kept: {{where: "exact_dedup.keep AND minhash.keep AND semdedup.keep"}}
mixtures:
  mix: {{selection: kept, domain: "CASE WHEN text LIKE '%def %' THEN 'code' ELSE 'docs' END",
        upsample: {{code: 2}}, upsample_fraction: 0.1}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="MB of JSONL")
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()
    results = {}
    for size in args.sizes:
        data = make_data(args.work, size)
        folder = args.work / f"end-to-end-{size}mb"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "pipeline.yaml").write_text(PIPELINE.format(data=data))
        usage = measure_processes([sys.executable, "-m", "curation.cli", "-q", "run", str(folder / "pipeline.yaml"),
                                   "--workers", "2"])
        stages = orjson.loads((folder / "corpus" / "corpus.json").read_bytes())["stages"]
        results[size] = {"seconds": usage.seconds, "peak": usage.tree_peak, "docs": stages[0]["rows_out"],
                         "stages": {s["name"]: (s["wall_time_s"], s.get("docs_per_core_s"), _stage_peak(usage, s))
                                    for s in stages}}
        print(f"{size} MB: {usage.seconds:.0f} s, peak {usage.tree_peak / 1e6:,.0f} MB", flush=True)
        for s in stages:
            print(f"  {s['name']}: {s.get('step_seconds', {})}", flush=True)
    sizes = list(results)
    print("\n| stage | " + " | ".join(f"{s:,} MB: s, docs/s per core, peak RSS of the tree (MB)" for s in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for stage in results[sizes[0]]["stages"]:
        print(f"| {stage} | " + " | ".join(_cells(*results[s]["stages"][stage]) for s in sizes) + " |")
    print("| **whole `curate run`** | " + " | ".join(f"{results[s]['seconds']:.1f}" for s in sizes) + " |")
    print("| documents | " + " | ".join(f"{results[s]['docs']:,}" for s in sizes) + " |")
    print("| peak RSS, whole tree (MB) | " + " | ".join(f"{results[s]['peak'] / 1e6:,.0f}" for s in sizes) + " |")


def _stage_peak(usage, stage: dict) -> int:
    """The tree's peak RSS while the stage ran (its record says when it finished, to the second)."""
    end = datetime.strptime(stage["finished_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp() + 1
    return usage.tree_peak_between(end - stage["wall_time_s"] - 1, end)


def _cells(seconds: float, rate: float | None, peak: int) -> str:
    return f"{seconds:.1f}, {f'{rate:,.0f}' if rate else '-'}, {peak / 1e6:,.0f}"


if __name__ == "__main__":
    main()
