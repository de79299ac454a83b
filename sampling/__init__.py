"""Sampling: sample sizes, allocation across buildings, seeded selection with reserves.

The public API is importable from here; each module loads on first use (PEP 562), so that
importing one part (``sampling.config`` for a round's settings) does not load the rest
(scipy, xlsxwriter)."""

from wuye_common.errors import Problem, WuyeError
from wuye_common.lazy import lazy_exports

_LAZY: dict[str, str] = {
    "allocate": "sampling.allocation",
    "SamplingConfig": "sampling.config",
    "draw_round": "sampling.design",
    "run_sampling": "sampling.design",
    "write_field_sheets": "sampling.fieldsheets",
    "load_frame": "sampling.frame",
    "allocate_budget": "sampling.power",
    "power_sizes": "sampling.power",
    "RoundSample": "sampling.record",
    "frame_sha256": "sampling.record",
    "read_sampling_record": "sampling.record",
    "write_sampling_record": "sampling.record",
    "expected_margin": "sampling.size",
    "sample_size": "sampling.size",
    "draw_topup": "sampling.topup",
}

__all__ = ["Problem", "WuyeError", *sorted(_LAZY)]

__getattr__ = lazy_exports(__name__, _LAZY)
