"""An ablation's summary: per arm and eval set, over the seeds, the mean bits per byte, its
standard deviation and 95% interval (Student's t), and the difference to the first arm.

The difference is paired by seed: seed s of every arm starts from the same initial weights, so
the pairs share that part of the run-to-run noise and the interval of the mean difference is
narrower than two separate intervals would suggest. An interval that excludes zero is the claim
that one arm is better on that set; with 3 seeds it needs a difference well above the noise.
The eval set "all" is each run's mean over the sets (every set weighted alike).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

MEAN_OF_SETS = "all"
SUMMARY_SCHEMA = pa.schema([
    ("arm", pa.string()), ("eval_set", pa.string()), ("seeds", pa.int64()), ("bits_per_byte", pa.float64()),
    ("sd", pa.float64()), ("low", pa.float64()), ("high", pa.float64()), ("difference", pa.float64()),
    ("difference_low", pa.float64()), ("difference_high", pa.float64()), ("excludes_zero", pa.bool_()),
])


def interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float | None, float | None, float | None]:
    """Mean, standard deviation, and the two ends of the interval (None from a single value)."""
    from scipy.stats import t

    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None, None, None
    sd = float(np.std(values, ddof=1))
    half = float(t.ppf((1 + confidence) / 2, len(values) - 1)) * sd / math.sqrt(len(values))
    return mean, sd, mean - half, mean + half


def summarize(runs: pa.Table, arms: list[str]) -> pa.Table:
    """The summary rows of ``runs`` (arm, seed, eval_set, bits_per_byte), arms in order, the first the baseline."""
    values = _by_arm_set_seed(runs)
    rows = []
    for arm in arms:
        for eval_set in sorted({s for a, s in values if a == arm}, key=lambda s: (s == MEAN_OF_SETS, s)):
            seeds = values[arm, eval_set]
            mean, sd, low, high = interval(np.array(list(seeds.values())))
            row = {"arm": arm, "eval_set": eval_set, "seeds": len(seeds), "bits_per_byte": mean, "sd": sd,
                   "low": low, "high": high, "difference": None, "difference_low": None, "difference_high": None,
                   "excludes_zero": None}
            baseline = values.get((arms[0], eval_set), {})
            paired = sorted(set(seeds) & set(baseline))
            if arm != arms[0] and paired:
                difference, _, low, high = interval(np.array([seeds[s] - baseline[s] for s in paired]))
                row |= {"difference": difference, "difference_low": low, "difference_high": high,
                        "excludes_zero": bool(low > 0 or high < 0) if low is not None else None}
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


def _by_arm_set_seed(runs: pa.Table) -> dict[tuple[str, str], dict[int, float]]:
    values: dict[tuple[str, str], dict[int, float]] = {}
    for row in runs.select(["arm", "seed", "eval_set", "bits_per_byte"]).to_pylist():
        values.setdefault((row["arm"], row["eval_set"]), {})[row["seed"]] = row["bits_per_byte"]
    for arm in {a for a, _ in values}:
        per_seed = [values[key] for key in values if key[0] == arm]
        shared = set.intersection(*(set(seeds) for seeds in per_seed))
        values[arm, MEAN_OF_SETS] = {seed: float(np.mean([seeds[seed] for seeds in per_seed])) for seed in sorted(shared)}
    return values


def summary_lines(rows: list[dict]) -> list[str]:
    """Summary rows as the command prints them: bits per byte, interval, difference to the first arm."""
    lines = []
    for row in rows:
        line = f"  {row['arm']:<16} {row['eval_set']:<16} {row['bits_per_byte']:.4f} bits/byte"
        if row["low"] is not None:
            line += f" [{row['low']:.4f}, {row['high']:.4f}]"
        if row["difference"] is not None:
            line += f"  {row['difference']:+.4f} vs the first arm"
            if row["excludes_zero"] is not None:
                line += f" [{row['difference_low']:+.4f}, {row['difference_high']:+.4f}]" + (
                    " (excludes 0)" if row["excludes_zero"] else "")
        lines.append(line)
    return lines
