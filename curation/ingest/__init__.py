"""Ingest: input files in, documents and accounted rejects out."""
