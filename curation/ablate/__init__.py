"""Ablations: proxy models trained on selections and mixtures at equal tokens (curation.ablate.stage)."""
