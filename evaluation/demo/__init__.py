"""The demo district and fieldwork simulator: a producer of inputs (台账, household frame,
问卷星 exports, synthetic results) for the demo, the tests and the benchmarks.

No stage imports it; it imports the round model and the questionnaire only.
"""

from wuye_common.lazy import lazy_exports

#: the demo's two consecutive half-year rounds
DEMO_PERIODS: tuple[str, ...] = ("2025H2", "2026H1")

_WHERE = {
    "DemoDistrict": "evaluation.demo.district",
    "build_district": "evaluation.demo.district",
    "truth_for": "evaluation.demo.district",
    "Fieldwork": "evaluation.demo.fieldwork",
    "simulate_fieldwork": "evaluation.demo.fieldwork",
    "simulate_visits": "evaluation.demo.fieldwork",
    "write_demo_round": "evaluation.demo.round_files",
    "write_fieldwork": "evaluation.demo.round_files",
    "write_export": "evaluation.demo.round_files",
    "synthetic_results": "evaluation.demo.synthetic",
    "write_round_folder": "evaluation.demo.synthetic",
}
__all__ = ["DEMO_PERIODS", *sorted(_WHERE)]
__getattr__ = lazy_exports(__name__, _WHERE)
