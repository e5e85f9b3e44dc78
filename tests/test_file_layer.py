"""The file layer under both result kinds: a damaged file is refused at once and never hangs,
the newest readable checkpoint is resumed, files of dead processes are cleaned only when
superseded, and a resume that fails at any stage keeps a checkpoint."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdesolve.io import atomic, grid_result, particle_result
from pdesolve.io.grid_result import ResultFormatError, ResultWriter, read_checkpoint, read_result
from pdesolve.io.hdf5_access import PROBE_SECONDS, open_hdf5, read_superblock
from pdesolve.io.particle_result import ParticleWriter, ReplicateCheckpoint, read_particles
from pdesolve.model.grid import Grid

GRID = Grid((-2.0, 0.0), (2.0, 1.5), (12, 7), (True, False))
ROOT = Path(__file__).resolve().parents[1]


def as_killed(write):
    """``write(path, ...)`` run in a forked child that dies without closing anything, as under
    kill -9: what it leaves is the partial file of a dead pid (returned)."""
    def killed_run(path: Path, *args, killed: bool = False, **kwargs) -> Path:
        if not killed:
            return write(path, *args, **kwargs)
        pid = os.fork()
        if pid == 0:
            try:
                write(path, *args, end=lambda writer: os._exit(0), **kwargs)  # writer still open
            finally:
                os._exit(1)
        assert os.waitpid(pid, 0)[1] == 0
        partial, = path.parent.glob(f".{path.name}.{pid}.partial")
        return partial
    return killed_run


@as_killed
def grid_run(path: Path, *, t: float = 0.2, snapshots: int = 3, end=ResultWriter.suspend) -> Path:
    """A grid result at ``path`` interrupted after ``snapshots`` snapshots with a checkpoint at
    ``t``; ``killed=True``: left as ``kill -9`` leaves it instead."""
    writer = ResultWriter(path, GRID, case_text="title = 'x'\n", case_source="c.toml",
                          attrs={"title": "x"}, force=True)
    for i in range(snapshots):
        writer.add_snapshot(0.1 * i, np.full(GRID.shape, i + 1.0), np.zeros(GRID.shape))
        writer.add_diagnostics({"t": 0.1 * i, "mass": 1.0 + i})
    writer.write_checkpoint(np.full(GRID.shape, t), t=t, steps=7.0, conserved_mass=1.0,
                            snapshots=float(snapshots), next_output=float(snapshots), last_dt=0.01)
    return end(writer)


@as_killed
def particle_run(path: Path, *, end=ParticleWriter.suspend) -> Path:
    """A particle result: replicate 0 finished, replicate 1 in progress, 2 not started."""
    times = np.array([0.0, 0.5, 1.0])
    writer = ParticleWriter(path, GRID, times, replicates=3, n=4, slots=2, keep_positions=False,
                            case_text="x", case_source="c.toml",
                            attrs={"title": "p", "replicates": 3, "n": 4, "seed": 1, "keep_positions": False},
                            force=True)
    row = {"mass": 1.0, "mean": np.zeros(2), "covariance": np.eye(2), "energy": 0.5,
           "histogram": np.ones(GRID.shape)}
    for k in range(3):
        writer.write_output(0, k, row)
    writer.finish_replicate(0, steps=10, dt=0.1)
    writer.write_output(1, 0, row)
    writer.save_state(ReplicateCheckpoint(replicate=1, positions=np.ones((4, 2)), weights=np.ones(4),
                                          rng_state={"state": 5}, step=0.1, next_output=1, substep=2,
                                          steps=7, t=0.7))
    return end(writer)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*"))


# ----------------------------------------------------------------------------- damaged files

def test_the_superblock_is_read_for_every_format_version(tmp_path):
    """The end-of-file address and the writer flags, from superblocks v0 (libver earliest),
    v2, v3 and behind a 512-byte user block; a file left open by a writer has flags set."""
    for bounds in ("earliest", "v108", "v110", "latest"):
        path = tmp_path / f"{bounds}.h5"
        with h5py.File(path, "w", libver=(bounds, "latest")) as f:
            f["a"] = np.arange(100.0)
        block = read_superblock(path)
        assert (block.end_of_file, block.writer_flags) == (path.stat().st_size, 0), bounds
    path = tmp_path / "user_block.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["a"] = np.arange(10.0)
    assert read_superblock(path).end_of_file == path.stat().st_size
    assert read_superblock(grid_run(tmp_path / "run.h5", killed=True)).writer_flags != 0
    (tmp_path / "text.h5").write_text("no superblock here " * 100)
    assert read_superblock(tmp_path / "text.h5") is None


@pytest.mark.parametrize("kind", ["grid", "particles"])
@pytest.mark.parametrize("killed", [False, True], ids=["interrupted", "killed"])
@pytest.mark.parametrize("keep", [0.02, 0.5, 0.999])
def test_a_truncated_file_is_refused_naming_it(tmp_path, kind, killed, keep):
    """HDF5 does not check truncation in SWMR mode and would read past the end for ever:
    the superblock's end-of-file address is checked first."""
    source = (grid_run if kind == "grid" else particle_run)(tmp_path / "run.h5", killed=killed)
    size = source.stat().st_size
    with open(source, "r+b") as handle:
        handle.truncate(int(size * keep))
    writer = ResultWriter if kind == "grid" else ParticleWriter
    options = {} if kind == "grid" else {"slots": 1}
    with pytest.raises(ResultFormatError, match=rf"{source.name}: truncated HDF5 file \({int(size * keep)} "
                                                rf"of its {size} bytes\); nothing to resume"):
        writer.resume(tmp_path / "run.h5", **options)
    reader = read_result if kind == "grid" else read_particles
    with pytest.raises(ResultFormatError, match="truncated HDF5 file"):
        reader(source, allow_incomplete=True)


def test_resume_of_a_truncated_result_on_the_command_line_ends_at_once(tmp_path):
    """The issue's reproduction: the first half of a result given to --resume (it hung for
    ever, deaf to SIGINT and SIGTERM): exit 2 and one line naming the file, in seconds."""
    case = ROOT / "cases" / "gaussian_1d.toml"
    source = grid_run(tmp_path / "run.h5")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    done = subprocess.run([sys.executable, "-m", "pdesolve.cli", "run", str(case), "--resume", str(cut)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {cut}: truncated HDF5 file "
                                        f"({cut.stat().st_size} of its {source.stat().st_size} bytes); "
                                        "nothing to resume"]


KNOWN_HANG = 2128   # a byte of the global heap of grid_run's file (h5py 3.16, HDF5 2.0)
DAMAGE_SCRIPT = """
import random, sys, time
from pathlib import Path
from pdesolve.io.grid_result import ResultFormatError, ResultWriter
source, variants, known = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
clean = source.read_bytes()
rngs = [random.Random(seed) for seed in range(1, variants)]
flips = [[(known, 0o236)]] + [[(rng.randrange(len(clean)), rng.randrange(256)) for _ in range(3)] for rng in rngs]
for i, bytes_ in enumerate(flips):
    damaged = bytearray(clean)
    for offset, value in bytes_:
        damaged[offset] = value
    target = source.with_name(f"damaged{i}.h5")
    target.write_bytes(damaged)
    started = time.monotonic()
    try:
        writer, _ = ResultWriter.resume(target)
        writer.finish({})
        outcome = "resumed"
    except ResultFormatError as err:
        assert "\\n" not in str(err) and target.name in str(err), err
        outcome = "refused"
    print(outcome, round(time.monotonic() - started, 2), flush=True)
"""


def test_a_damaged_file_is_refused_or_resumed_but_never_hangs(tmp_path):
    """Bytes flipped anywhere in an interrupted result, 24 ways: each resume either works or
    ends with one line naming the file, within the probe's time limit, never with a
    traceback.  The first flip is at a heap byte that makes h5py 3.16 (HDF5 2.0) loop for
    ever reading a root attribute, with or without SWMR; where plain h5py still hangs on
    it, the resume must have refused it."""
    source = grid_run(tmp_path / "run.h5")
    known = bytearray(source.read_bytes())
    known[KNOWN_HANG] = 0o236
    (tmp_path / "known.h5").write_bytes(known)
    try:
        subprocess.run([sys.executable, "-c", "import h5py, sys; dict(h5py.File(sys.argv[1], 'r').attrs)",
                        str(tmp_path / "known.h5")], capture_output=True, timeout=5)
        plain_h5py_hangs = False
    except subprocess.TimeoutExpired:
        plain_h5py_hangs = True
    done = subprocess.run([sys.executable, "-c", DAMAGE_SCRIPT, str(source), "24", str(KNOWN_HANG)],
                          capture_output=True, text=True, timeout=24 * PROBE_SECONDS + 120)
    assert done.returncode == 0, done.stderr
    outcomes = [line.split() for line in done.stdout.splitlines()]
    assert len(outcomes) == 24
    assert all(float(seconds) < PROBE_SECONDS + 5 for _, seconds in outcomes)
    assert {outcome for outcome, _ in outcomes} == {"resumed", "refused"}
    if plain_h5py_hangs:
        assert outcomes[0][0] == "refused"


# ------------------------------------------------------------------- which checkpoint wins

def test_resume_takes_a_newer_partial_over_the_interrupted_target(tmp_path):
    """interrupt -> resume -> kill -9 -> resume: the killed leg's partial file is newer than the
    interrupted target and wins; it is deleted once the new file holds its checkpoint."""
    path = tmp_path / "run.h5"
    grid_run(path, t=0.1, snapshots=2)
    partial = grid_run(path, t=0.3, snapshots=3, killed=True)
    os.utime(path, (1_000_000, 1_000_000))
    writer, checkpoint = ResultWriter.resume(path)
    with writer:
        assert checkpoint["t"] == 0.3 and checkpoint["snapshots"] == 3
        assert not partial.exists() and path.exists()
        assert leftovers(tmp_path) == [writer.temp_path.name]
        writer.finish({"steps": 1})
    assert read_result(path).times.tolist() == [0.0, 0.1, 0.2]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["grid", "particles"])
def test_resume_passes_over_a_damaged_newer_file_for_an_older_good_one(tmp_path, kind):
    path = tmp_path / "run.h5"
    make = grid_run if kind == "grid" else particle_run
    make(path)
    os.utime(path, (1_000_000, 1_000_000))
    partial = make(path, killed=True)
    with open(partial, "r+b") as handle:
        handle.truncate(1000)
    options = {} if kind == "grid" else {"slots": 1}
    writer = (ResultWriter if kind == "grid" else ParticleWriter).resume(path, **options)[0]
    with writer:
        assert partial.exists()   # newer than the source: kept while the run may still fail
        writer.finish({})
    assert not partial.exists()   # superseded by the complete result
    os.truncate(path, 1000)
    with pytest.raises(ResultFormatError, match=f"{path}: truncated .*; nothing to resume"):
        (ResultWriter if kind == "grid" else ParticleWriter).resume(path, **options)


@pytest.fixture
def live_python_pid():
    """The pid of a running Python process that is not this one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait()


def test_a_running_process_keeps_its_files(tmp_path, live_python_pid):
    """A partial or creating file of a live process is neither resumed, nor removed by a
    writer that starts or finishes beside it."""
    path = tmp_path / "run.h5"
    partial = grid_run(tmp_path / "other.h5", killed=True).rename(tmp_path / f".run.h5.{live_python_pid}.partial")
    creating = tmp_path / f".run.h5.{live_python_pid}.creating"
    creating.write_bytes(b"being written")
    with pytest.raises(ResultFormatError, match=f"process {live_python_pid} is still writing this run"):
        ResultWriter.resume(path)
    with ResultWriter(path, GRID, case_text="x", case_source="c", attrs={}, force=True) as writer:
        writer.add_snapshot(0.0, np.ones(GRID.shape), np.ones(GRID.shape))
        writer.add_diagnostics({"t": 0.0})
        writer.finish({})   # a forced new run beside them
    assert partial.exists() and creating.exists()


# ------------------------------------------------------------ files of dead processes

def test_a_new_run_does_not_start_over_a_killed_runs_checkpoint_unless_forced(tmp_path):
    path = tmp_path / "run.h5"
    partial = grid_run(path, killed=True)
    with pytest.raises(FileExistsError, match=f"{partial.name}: a killed run of .*run.h5 left its checkpoint "
                                              "there; resume it with --resume .*run.h5, or use --force"):
        ResultWriter(path, GRID, case_text="x", case_source="c", attrs={})
    assert partial.exists()
    with ResultWriter(path, GRID, case_text="x", case_source="c", attrs={}, force=True) as writer:
        assert partial.exists()                     # kept while the new run may still fail
        writer.add_snapshot(0.0, np.ones(GRID.shape), np.ones(GRID.shape))
        writer.add_diagnostics({"t": 0.0})
        writer.finish({})
    assert leftovers(tmp_path) == []                # superseded by the complete result


def test_a_dead_runs_creating_file_is_removed_when_the_next_writer_starts(tmp_path):
    """A ``.creating`` file never holds a checkpoint (the first one renames it ``.partial``, and
    a resume's copy keeps its source until the copy is durable): if its process is dead it is
    debris, as kill -9 during the copy phase of a --resume leaves it."""
    path = tmp_path / "run.h5"
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)      # a pid that is dead now
    stale = tmp_path / f".run.h5.{pid}.creating"
    stale.write_bytes(b"\0" * 1000)
    other = tmp_path / f".other.h5.{pid}.creating"   # another target's: not ours to judge
    other.write_bytes(b"\0")
    with ResultWriter(path, GRID, case_text="x", case_source="c", attrs={}):
        assert not stale.exists() and other.exists()


# ---------------------------------------------------------------------- fault injection

def resume_with_a_fault(kind: str, stage: str, how: str, path: Path) -> int:
    """In a forked child: make ``stage`` of the resume of ``path`` fail (``how``: raise an
    exception, or die at once as under kill -9), resume, and return the child's exit code
    (3: the injected exception came out of resume, 137: it died, 0: no fault happened)."""
    pid = os.fork()
    if pid != 0:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    try:
        module = grid_result if kind == "grid" else particle_result
        cls = module.ResultWriter if kind == "grid" else module.ParticleWriter
        calls = {"n": 0}

        def fault(*args, **kwargs):
            if how == "kill":
                os._exit(137)
            raise RuntimeError("injected fault")

        def on_second_call(original):
            def wrapped(*args, **kwargs):
                calls["n"] += 1
                if calls["n"] == 2:
                    fault()
                return original(*args, **kwargs)
            return wrapped

        if stage == "retire_sources":   # the shared resume template's last step
            atomic.retire_sources = fault
        elif stage == "os.replace":
            original_replace = os.replace

            def replace(source, target):
                if str(target).endswith(".partial"):
                    fault()
                return original_replace(source, target)
            os.replace = replace
        elif stage == "add_snapshot":
            setattr(cls, stage, on_second_call(getattr(cls, stage)))
        else:
            setattr(cls, stage, fault)
        cls.resume(path, **({} if kind == "grid" else {"slots": 1}))
        code = 0
    except RuntimeError as err:
        code = 3 if str(err) == "injected fault" else 4
    except BaseException:
        code = 5
    os._exit(code)


GRID_STAGES = ["_write_layout", "add_snapshot", "_append_rows", "write_checkpoint", "make_durable",
               "os.replace", "retire_sources"]
PARTICLE_STAGES = ["_write_layout", "_copy_progress", "save_state", "make_durable", "os.replace",
                   "retire_sources"]


@pytest.mark.parametrize("how", ["raise", "kill"])
@pytest.mark.parametrize("kind, stage", [("grid", s) for s in GRID_STAGES] +
                                        [("particles", s) for s in PARTICLE_STAGES])
def test_a_resume_that_fails_at_any_stage_keeps_a_checkpoint(tmp_path, kind, stage, how):
    """The resume of a killed run's partial file fails (an exception, or the process dies as
    under kill -9) at each stage of the copy: the next resume still finds the same checkpoint
    and finishes, and leaves no temporary file behind."""
    path = tmp_path / "run.h5"
    (grid_run if kind == "grid" else particle_run)(path, killed=True)
    assert resume_with_a_fault(kind, stage, how, path) == (137 if how == "kill" else 3)
    if kind == "grid":
        writer, checkpoint = ResultWriter.resume(path)
        with writer:
            assert checkpoint["t"] == 0.2 and checkpoint["snapshots"] == 3.0
            assert np.array_equal(checkpoint["mu"], np.full(GRID.shape, 0.2))
            writer.finish({})
        assert read_result(path).times.tolist() == [0.0, 0.1, 0.2]
    else:
        writer, finished, states = ParticleWriter.resume(path, slots=1)
        with writer:
            assert finished.tolist() == [True, False, False] and list(states) == [1]
            assert states[1].t == 0.7 and states[1].rng_state == {"state": 5}
            writer.finish({})
        assert read_particles(path).outputs_done.tolist() == [3, 1, 0]
    assert leftovers(tmp_path) == []


def test_open_hdf5_reads_a_killed_writers_file_in_swmr_mode(tmp_path):
    partial = grid_run(tmp_path / "run.h5", killed=True)
    with open_hdf5(partial, swmr=True) as f:
        assert f.swmr_mode and read_checkpoint(f)["t"] == 0.2
    with open_hdf5(grid_run(tmp_path / "done.h5"), swmr=True) as f:
        assert not f.swmr_mode    # closed cleanly: no SWMR needed


@pytest.mark.parametrize("kind", ["grid", "particles"])
def test_the_wall_time_of_a_resumed_run_counts_every_leg(tmp_path, kind):
    """The summary of a resumed run reports the whole run's wall time (and so its true steps
    per second), not the last leg's: each checkpoint records the time spent so far."""
    path = tmp_path / "run.h5"
    (grid_run if kind == "grid" else particle_run)(path)
    with h5py.File(path, "r") as f:
        first_leg = f["checkpoint"].attrs["wall_time"]
    assert first_leg > 0
    writer = (ResultWriter.resume(path)[0] if kind == "grid" else ParticleWriter.resume(path, slots=1)[0])
    with writer:
        assert writer.earlier_wall_time == first_leg
        assert writer.wall_time() > first_leg
        writer.finish({})


def test_a_newer_partial_that_cannot_be_read_is_kept_when_an_older_one_is_resumed(tmp_path):
    """The newest file may fail for a passing reason (the probe's time limit on a slow disk):
    resuming an older one must not delete it; the older ones are retired as usual."""
    path = tmp_path / "run.h5"
    grid_run(path)
    os.utime(path, (1_000_000, 1_000_000))
    older = grid_run(path, t=0.1, killed=True)
    os.utime(older, (2_000_000, 2_000_000))
    newer = grid_run(path, t=0.3, killed=True)
    with open(newer, "r+b") as handle:
        handle.truncate(1000)
    writer, checkpoint = ResultWriter.resume(path)
    with writer:
        assert checkpoint["t"] == 0.1
        assert newer.exists() and not older.exists()
        writer.finish({})


def test_read_result_opens_a_killed_runs_partial_file(tmp_path):
    """As the grid_result docstring says: ``read_result(partial, allow_incomplete=True)``."""
    partial = grid_run(tmp_path / "run.h5", killed=True)
    result = read_result(partial, allow_incomplete=True)
    assert result.times.tolist() == [0.0, 0.1, 0.2] and result.attrs["status"] == "running"


def test_a_pid_reused_by_a_process_started_later_is_not_a_live_writer(tmp_path, live_python_pid):
    from pdesolve.io.atomic import process_alive
    old = tmp_path / "old.partial"
    old.write_bytes(b"x")
    os.utime(old, (1_000_000, 1_000_000))       # written long before the process started
    assert not process_alive(live_python_pid, old)
    fresh = tmp_path / "fresh.partial"
    fresh.write_bytes(b"x")                       # written while it runs
    assert process_alive(live_python_pid, fresh)
