"""Prefect flows: they only wire tasks together; the work lives in curation/ and scorers/."""
