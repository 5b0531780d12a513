"""The offline demo: a real multi-domain corpus from Debian packages, run through the pipeline."""
