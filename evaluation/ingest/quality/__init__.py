"""Fieldwork quality checks at ingest (see :mod:`evaluation.ingest.quality.checks`)."""
