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
                    keep_positions: bool, held: int) -> tuple[int, int]:
    """Peak memory of a particle run: ``workers`` replicates in flight, each with its
    particles (PARTICLE_ARRAYS × (d + 1) float64s per particle), its mesh arrays and its
    observables at every output time (histogram, moments, and positions if kept), plus the
    observables of ``held`` replicates kept in memory until the end (a comparison keeps
    three whole ensembles: ``held`` = 3 R).  Returns (all processes together, the largest
    one): with several workers each replicate runs in a worker process, the observables
    kept are in the parent."""
    d = len(case.grid.cells)
    cells = math.prod(case.grid.cells)
    observables = outputs * (cells + d * d + d + 2 + (n * d if keep_positions else 0)) * 8
    in_flight = PARTICLE_ARRAYS * (d + 1) * n * 8 + SOLVER_ARRAYS * cells * 8 + observables
    total = min(workers, replicates) * in_flight + held * observables
    return total, (max(in_flight, held * observables) if workers > 1 else total)


def available_memory() -> int:
    """What this process may allocate: `machine_memory`, at most `address_space_left`."""
    return min(machine_memory(), address_space_left())


def address_space_left() -> int | float:
    """The address space ``ulimit -v`` leaves this process (inf: no limit); a child
    process started now gets about as much."""
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return math.inf
    return max(0, limit - _address_space_used())


def machine_memory() -> int:
    """What all of a run's processes together may allocate: MemAvailable from /proc/meminfo
    (else the physical memory), at most the room left under the cgroup's memory.max."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
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
    """memory.max − memory.current + inactive_file of this process's cgroup (v2), None when
    unlimited."""
    try:
        with open("/proc/self/cgroup") as handle:
            path = next(line.split(":", 2)[2].strip() for line in handle if line.startswith("0::"))
        folder = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(folder, "memory.max")) as handle:
            text = handle.read().strip()
        if text == "max":
            return None
        with open(os.path.join(folder, "memory.current")) as handle:
            current = int(handle.read())
        with open(os.path.join(folder, "memory.stat")) as handle:   # page cache it can drop
            reclaimable = next((int(line.split()[1]) for line in handle
                                if line.startswith("inactive_file ")), 0)
        return max(0, int(text) - current + reclaimable)
    except (OSError, ValueError, StopIteration):
        return None


def gib(value: int) -> str:
    return f"{value / 1024 ** 3:.2f} GiB"
