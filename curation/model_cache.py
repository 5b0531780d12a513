"""Where models made or unpacked at set-up time live: $CURATION_MODELS, by default
~/.cache/curation/models (scripts/fetch-models fills it; the static encoder is distilled there)."""

from __future__ import annotations

import os
from pathlib import Path


def models_dir() -> Path:
    return Path(os.environ.get("CURATION_MODELS", Path.home() / ".cache" / "curation" / "models"))
