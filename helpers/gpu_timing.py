"""Timing GPU work the way trtexec does, for PyTorch (torch.cuda) and TensorRT (pycuda) alike (notebook 04, whose
lesson writes ``time_gpu_iterations`` and checks it against this one)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass(frozen=True)
class TimingPlan:
    """How long a GPU row warms up and measures. trtexec warms up for 200 ms, then runs at least 10 iterations *and*
    3 s; a warm-up counted in iterations lasts a few ms at batch 1, too short for the GPU's clocks to ramp up."""

    warmup_seconds: float = 0.2
    min_seconds: float = 1.0
    min_iterations: int = 10

    def as_dict(self) -> dict:
        return asdict(self)


def timing_plan(profile_name: str | None, iterations: int) -> TimingPlan:
    """200 ms warm-up, then at least ``iterations`` iterations and 1 s per row (full profile) or 0.25 s (quick)."""
    return TimingPlan(warmup_seconds=0.2, min_seconds=1.0 if profile_name == "full" else 0.25,
                      min_iterations=max(1, int(iterations)))


def time_gpu_iterations(step: Callable[[], None], new_event: Callable[[], object], record: Callable[[object], None],
                        elapsed_ms: Callable[[object, object], float], synchronize: Callable[[], None],
                        timing: TimingPlan) -> tuple[list[float], float, dict]:
    """Warm up, then time ``step`` with an event before and after each iteration until ``timing``'s minimum count and
    time are reached; returns (ms per iteration, wall seconds, the warm-up). PyTorch and pycuda pass their events."""
    warmup_started, warmup_count = time.perf_counter(), 0
    while warmup_count == 0 or time.perf_counter() - warmup_started < timing.warmup_seconds:
        step()
        synchronize()  # each warm-up iteration finishes on the GPU, so the warm-up time is GPU time
        warmup_count += 1
    warmup = {"warmup_iterations": warmup_count, "warmup_seconds": round(time.perf_counter() - warmup_started, 4)}
    chunk = max(1, min(50, timing.min_iterations))  # synchronize now and then to check the time
    pairs, started = [], time.perf_counter()
    while True:
        for _ in range(chunk):
            start, end = new_event(), new_event()
            record(start)
            step()
            record(end)
            pairs.append((start, end))
        synchronize()
        wall_seconds = time.perf_counter() - started
        if len(pairs) >= timing.min_iterations and wall_seconds >= timing.min_seconds:
            return [float(elapsed_ms(start, end)) for start, end in pairs], wall_seconds, warmup
