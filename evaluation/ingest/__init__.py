"""Ingest of fieldwork exports: readers, linking, validation, pseudonyms, template."""

from evaluation.ingest.ingest import IngestResult, ingest_round
from evaluation.ingest.readers import ExportInfo, read_survey_export
from evaluation.ingest.template import write_template

__all__ = ["ExportInfo", "IngestResult", "ingest_round", "read_survey_export", "write_template"]
