"""Whether other processes are computing on this machine's cores right now.

Two PyTorch processes on the same two cores slow each other far more than twice, and
less when the newcomer computes with one thread (docs/training.md; the measurements are in
docs/journal.md, "the whole course in 30 minutes"). So a training that starts on a busy
machine computes with one thread, and an estimate made on one says so instead of timing
steps that would mislead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

SAMPLE_SECONDS = 0.25  # /proc/stat counts in hundredths of a second: 50 ticks on 2 cores
BUSY_CORES = 0.5  # cores kept busy by other processes above which the machine counts as busy


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many cores other processes kept busy over `seconds`, while this one sleeps;
    None where /proc/stat cannot be read (not Linux)."""
    def times() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
        idle = values[3] + values[4]  # idle and iowait
        return sum(values) - idle, sum(values)

    try:
        busy0, total0 = times()
        time.sleep(seconds)
        busy1, total1 = times()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)


def busy_note(seconds: float = SAMPLE_SECONDS) -> str:
    """A sentence saying that other processes are computing, or '' when the machine is quiet."""
    busy = busy_cores(seconds)
    if busy is None or busy < BUSY_CORES:
        return ""
    return (f"this machine is busy: other processes keep {busy:.1f} of its {os.cpu_count()} cores computing, and every "
            f"step waits for them")


@contextmanager
def one_thread_when_busy(device: torch.device) -> Iterator[str]:
    """On a CPU that other processes keep busy, compute with one thread while the block
    runs (then as before), and yield a line saying so; on a quiet machine, or a GPU, ''."""
    threads = torch.get_num_threads()
    note = busy_note() if device.type == "cpu" and threads > 1 else ""
    if not note:
        yield ""
        return
    torch.set_num_threads(1)
    try:
        yield f"note: {note}; this run computes with 1 thread instead of {threads}, which a busy machine slows least"
    finally:
        torch.set_num_threads(threads)
