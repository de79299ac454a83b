"""Ingest of fieldwork exports: readers, linking, validation, pseudonyms, template, fieldwork
quality checks (:mod:`evaluation.ingest.quality`) and residents' comments
(:mod:`evaluation.ingest.comments`).

Public names load on first use (PEP 562), so that importing one module of the stage (the
round model reads :mod:`evaluation.ingest.quality.config`) never imports the readers.
"""

from wuye_common.lazy import lazy_exports

_WHERE = {
    "IngestResult": "evaluation.ingest.ingest",
    "ingest_round": "evaluation.ingest.ingest",
    "ExportInfo": "evaluation.ingest.readers",
    "read_survey_export": "evaluation.ingest.readers",
    "write_template": "evaluation.ingest.template",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
