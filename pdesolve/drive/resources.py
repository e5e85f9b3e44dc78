"""Memory and disk estimates of a grid run, made from the case before anything is allocated."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..config.case import Case
from ..model.interaction import padded_length

SOLVER_ARRAYS = 8  # μ, two stage buffers, V, U, F, the interaction output, μ₀ / prior
DISK_WARNING_BYTES = 2 * 1024 ** 3


@dataclass(frozen=True)
class ResourceEstimate:
    """Bytes a run needs in memory at its peak and writes to disk (before compression)."""

    memory: int
    snapshots_on_disk: int


def estimate(case: Case) -> ResourceEstimate:
    """Peak memory ≈ 8 grid arrays + (for an interaction) the padded FFT grid as real input,
    complex spectrum, kernel transform and inverse output; disk = snapshots × cells × 8 B
    × (2 when V is saved)."""
    cells = case.grid.cells
    periodic = [b == "periodic" for b in case.grid.boundary]
    n = math.prod(cells)
    memory = SOLVER_ARRAYS * n * 8
    kind = case.interaction.kind
    if kind != "none":
        axes = range(len(cells) - 1) if kind == "neuron" else range(len(cells))
        padded = [padded_length(cells[a], periodic[a]) for a in axes]
        real = math.prod(padded)
        spectrum = real // padded[-1] * (padded[-1] // 2 + 1)
        memory += 2 * real * 8 + 2 * spectrum * 16
    snapshots = (len(case.time.times) + 2) if case.time.times else case.time.outputs + 1
    per_snapshot = n * 8 * (2 if case.output.save_potential else 1)
    return ResourceEstimate(memory, snapshots * per_snapshot)


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, else total physical memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(value: int) -> str:
    return f"{value / 1024 ** 3:.2f} GiB"
