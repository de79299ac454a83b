"""Reports: the bureau's Excel workbook, Chinese PDFs (Typst), notebooks and the manifest."""

from evaluation.report.excel import write_workbook
from evaluation.report.manifest import Failure, Manifest, write_manifest
from evaluation.report.pdf import render_cards, render_district_pdf
from evaluation.report.render import render_reports, render_round

__all__ = [
    "Failure",
    "Manifest",
    "render_cards",
    "render_district_pdf",
    "render_reports",
    "render_round",
    "write_manifest",
    "write_workbook",
]
