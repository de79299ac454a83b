"""The questionnaire: its model (items, scales, options, matrix rows; `model`), the default
questionnaire (`default.toml`, package data) and the questionnaire put onto the fieldwork
platforms (问卷星 文本导入 text and XLSForm; `forms`).

Drafting a questionnaire from a platform export reads exports, so it lives in the ingest
stage (`evaluation.ingest.draft`).
"""

from evaluation.questionnaire.model import (
    Questionnaire,
    default_path,
    load_questionnaire,
    questionnaire_from_dict,
)

__all__ = ["Questionnaire", "default_path", "load_questionnaire", "questionnaire_from_dict"]
