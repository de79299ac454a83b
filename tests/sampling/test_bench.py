"""The sampling benchmark still runs (tiny size; timings are not checked here)."""

from __future__ import annotations

from benchmarks.bench_sampling import main, make_frame


def test_make_frame_sizes():
    register, frame = make_frame(3_000, 12)
    assert len(frame) == 3_000 and register["households"].sum() == 3_000
    assert not frame.duplicated(["estate_id", "building", "unit", "room"]).any()


def test_benchmark_runs(capsys):
    main(["--households", "2000", "--estates", "10", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "draw_round" in out and "goal" in out and "faster" in out
