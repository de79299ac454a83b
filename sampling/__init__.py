"""Sampling: sample sizes, allocation across buildings, seeded selection with reserves."""

from sampling.allocation import allocate
from sampling.config import SamplingConfig
from sampling.design import draw_round, run_sampling
from sampling.fieldsheets import write_field_sheets
from sampling.frame import load_frame
from sampling.power import allocate_budget, power_sizes
from sampling.record import RoundSample, frame_sha256, read_sampling_record, write_sampling_record
from sampling.size import expected_margin, sample_size
from sampling.topup import draw_topup
from wuye_common.errors import Problem, WuyeError

__all__ = [
    "Problem",
    "RoundSample",
    "SamplingConfig",
    "WuyeError",
    "allocate",
    "allocate_budget",
    "draw_round",
    "draw_topup",
    "expected_margin",
    "frame_sha256",
    "load_frame",
    "power_sizes",
    "read_sampling_record",
    "run_sampling",
    "sample_size",
    "write_field_sheets",
    "write_sampling_record",
]
