"""Domain weights and the phases of a mixture schedule (natural, temperature and explicit weights; phases as in curriculum schedules).

Weights are token shares per domain. They come from a spec:
- ``natural``: each domain's share of the available tokens;
- ``temperature:T``: natural shares p raised to 1/T and renormalised (T > 1 flattens, as in
  multilingual sampling);
- explicit ``{domain: weight}``, given inline or read from a JSON/YAML file (so DoReMi's or
  RegMix's output plugs in), renormalised.

A schedule is a list of phases covering [0, 1] of training without gaps or overlaps, each with its
weights. ``upsample_at_end`` builds the two-phase schedule of domain upsampling: base weights,
then for the last ``fraction`` of training the base weights times per-domain factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml

from curation.errors import UserError


@dataclass(frozen=True)
class Phase:
    start: float
    end: float
    weights: dict[str, float]  # token shares, summing to one


def _normalised(weights: dict[str, float], what: str) -> dict[str, float]:
    if any(not isinstance(w, int | float) or math.isnan(w) or w < 0 for w in weights.values()):
        raise UserError(f"{what}: weights must be numbers >= 0, got {weights}")
    total = sum(weights.values())
    if total <= 0:
        raise UserError(f"{what}: the weights are all zero")
    return {domain: weight / total for domain, weight in sorted(weights.items())}


def parse_weights(spec: str | dict) -> str | dict[str, float]:
    """``natural``, ``temperature:T``, ``a=1,b=2``, a dict, or ``@FILE`` (JSON or YAML mapping)."""
    if isinstance(spec, dict):
        return {str(k): v for k, v in spec.items()}
    if spec == "natural" or spec.startswith("temperature:"):
        return spec
    if spec.startswith("@"):
        path = Path(spec[1:])
        if not path.is_file():
            raise UserError(f"no weights file {path}")
        loaded = orjson.loads(path.read_bytes()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        if not isinstance(loaded, dict):
            raise UserError(f"{path} must map each domain to its weight")
        return {str(k): v for k, v in loaded.items()}
    weights = {}
    for item in spec.split(","):
        domain, sep, value = item.partition("=")
        try:
            weights[domain.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not domain.strip():
            raise UserError(f"weights are natural, temperature:T, @FILE or domain=weight,...; not {spec!r}")
    return weights


def resolve_weights(spec: str | dict, available: dict[str, float], what: str = "weights") -> dict[str, float]:
    """Token shares over the available domains (``available``: tokens per domain)."""
    spec = parse_weights(spec)
    if spec == "natural":
        return _normalised(available, what)
    if isinstance(spec, str):
        try:
            temperature = float(spec.split(":", 1)[1])
        except ValueError:
            raise UserError(f"temperature:T takes a number, not {spec!r}") from None
        if temperature <= 0:
            raise UserError(f"the temperature must be positive, not {temperature}")
        natural = _normalised(available, what)
        return _normalised({d: p ** (1 / temperature) for d, p in natural.items()}, what)
    unknown = sorted(set(spec) - set(available))
    if unknown:
        raise UserError(f"{what}: no documents in domain {', '.join(unknown)} (domains: {', '.join(sorted(available))})")
    return _normalised({domain: float(spec.get(domain, 0.0)) for domain in available}, what)


def upsample_at_end(base: dict[str, float], factors: dict[str, float], fraction: float) -> list[Phase]:
    """Base weights, then the last ``fraction`` of training with base x factors (renormalised)."""
    if not 0 < fraction < 1:
        raise UserError(f"the upsampling fraction is in (0, 1), not {fraction}")
    unknown = sorted(set(factors) - set(base))
    if unknown:
        raise UserError(f"upsample: no documents in domain {', '.join(unknown)}")
    upsampled = _normalised({d: w * float(factors.get(d, 1.0)) for d, w in base.items()}, "upsample")
    return [Phase(0.0, 1 - fraction, base), Phase(1 - fraction, 1.0, upsampled)]


def check_phases(phases: list[Phase]) -> list[Phase]:
    """Phases in order, from 0 to 1, each starting where the last ended."""
    if not phases:
        raise UserError("a schedule needs at least one phase")
    edge = 0.0
    for phase in phases:
        if not math.isclose(phase.start, edge, abs_tol=1e-9):
            gap_or_overlap = "a gap" if phase.start > edge else "an overlap"
            raise UserError(f"the phases leave {gap_or_overlap} at {min(edge, phase.start):g}-{max(edge, phase.start):g} of training")
        if phase.end <= phase.start:
            raise UserError(f"a phase must end after it starts ({phase.start:g}-{phase.end:g})")
        edge = phase.end
    if not math.isclose(edge, 1.0, abs_tol=1e-9):
        raise UserError(f"the phases end at {edge:g} of training; they must cover it to 1")
    return phases
