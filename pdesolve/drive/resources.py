"""Memory and disk estimates of grid and particle runs, made from the case before anything is
allocated, and the memory a run may take (the least of what the machine has free, the
process's address-space limit and its cgroup's limit)."""
from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass

from ..config.case import Case
from ..model.interaction import padded_length

SOLVER_ARRAYS = 8  # μ, two stage buffers, V, U, F, the interaction output, μ₀ / prior
PARTICLE_ARRAYS = 12  # float64s per particle and axis + 1: positions, trial positions, gradients,
                      # interaction gradient, draws; weights, values, rates, counts; temporaries
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


def particle_memory(case: Case, *, n: int, replicates: int, workers: int, outputs: int,
                    keep_positions: bool, held: int) -> int:
    """Peak memory of a particle run: ``workers`` replicates in flight, each with its
    particles (PARTICLE_ARRAYS × (d + 1) float64s per particle), its mesh arrays and its
    observables at every output time (histogram, moments, and positions if kept), plus the
    observables of ``held`` replicates kept in memory until the end (a comparison keeps
    whole ensembles)."""
    d = len(case.grid.cells)
    cells = math.prod(case.grid.cells)
    observables = outputs * (cells + d * d + d + 2 + (n * d if keep_positions else 0)) * 8
    in_flight = PARTICLE_ARRAYS * (d + 1) * n * 8 + SOLVER_ARRAYS * cells * 8 + observables
    return min(workers, replicates) * in_flight + min(held, replicates) * observables


def available_memory() -> int:
    """What a run may allocate: MemAvailable from /proc/meminfo (else the physical memory),
    at most the address space left under ``ulimit -v`` and the room left under the cgroup's
    memory.max."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit != resource.RLIM_INFINITY:
        available = min(available, max(0, limit - _address_space_used()))
    room = _cgroup_room()
    return available if room is None else min(available, room)


def _address_space_used() -> int:
    """The virtual memory this process has mapped (VmSize), 0 where /proc does not say."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _cgroup_room() -> int | None:
    """memory.max − memory.current of this process's cgroup (v2), None when unlimited."""
    try:
        with open("/proc/self/cgroup") as handle:
            path = next(line.split(":", 2)[2].strip() for line in handle if line.startswith("0::"))
        folder = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(folder, "memory.max")) as handle:
            text = handle.read().strip()
        if text == "max":
            return None
        with open(os.path.join(folder, "memory.current")) as handle:
            return max(0, int(text) - int(handle.read()))
    except (OSError, ValueError, StopIteration):
        return None


def gib(value: int) -> str:
    return f"{value / 1024 ** 3:.2f} GiB"
