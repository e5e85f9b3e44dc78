"""Command line: ``pdesolve run``, ``pdesolve plot``, ``pdesolve particles``.

Bad input (case file, overrides, an existing output) is reported as one line
``error: …`` on stderr with exit code 2; a run that fails (a numerical fault, a stability
limit, any other RuntimeError such as a broken worker pool) with exit code 1.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .fv.backends import BACKENDS

if TYPE_CHECKING:
    from .analysis.plot_options import PlotOptions

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdesolve",
        description="Finite-volume solver for the unbalanced transport equation "
                    "∂t μ = ∇·(μ∇V) − α(V − V̄)μ of mean-field neural-network theory.")
    parser.add_argument("--version", action="version", version=f"pdesolve {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a case file on its grid and write an HDF5 result",
                              description="Run CASE.toml on its grid and write an HDF5 result file.")
    run.add_argument("case", type=Path, help="TOML case file (see cases/README.md)")
    run.add_argument("-o", "--output", type=Path,
                     help="result file (default: [output] path of the case, else CASE-STEM.h5)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a case key, e.g. --set time.t_end=2 --set grid.cells=[64,64]")
    run.add_argument("--force", action="store_true", help="overwrite an existing result file")
    _add_backend(run)
    run.add_argument("--resume", type=Path, metavar="OUT.h5",
                     help="continue the interrupted or killed run whose result is OUT.h5 "
                          "(same case file and --set overrides); finishes bit for bit as an "
                          "uninterrupted run would")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    run.add_argument("--dry-run", action="store_true",
                     help="run nothing: print the case with every default, the first time step, the "
                          "step count it implies, and the memory and disk the run would need")

    particles = commands.add_parser(
        "particles", help="run the particle method on a case file and write an HDF5 result",
        description="Run independent particle replicates of CASE.toml (the same F, K, α, τ, grid and "
                    "μ₀ as 'pdesolve run') and write their observables over time to HDF5.")
    particles.add_argument("case", type=Path, help="TOML case file (see cases/README.md)")
    particles.add_argument("--n", metavar="N", help="particles per replicate (default: particles.n)")
    particles.add_argument("--replicates", metavar="R",
                           help="independent replicates (default: particles.replicates)")
    particles.add_argument("--seed", metavar="S", help="random seed (default: particles.seed)")
    _add_executor(particles, "processes running replicates in parallel (default: one per CPU, at most R; "
                             "1: in this process); results do not depend on it",
                  "run the replicates on the Dask scheduler at ADDRESS instead (needs pdesolve[sweep]); "
                  "results do not depend on it")
    _add_backend(particles)
    particles.add_argument("--set", dest="overrides", action="append", default=[],
                           metavar="SECTION.KEY=VALUE", help="override a case key, e.g. --set time.t_end=2")
    particles.add_argument("-o", "--output", type=Path,
                           help="result file (default: [output] path of the case with '_particles' "
                                "before '.h5')")
    particles.add_argument("--force", action="store_true", help="overwrite an existing result file")
    particles.add_argument("--positions", action="store_true",
                           help="also store every particle's position at every output time")
    particles.add_argument("--resume", type=Path, metavar="OUT.h5",
                           help="continue the interrupted or killed run whose result is OUT.h5 (same "
                                "case file and --set overrides); ends bit for bit as an uninterrupted run")
    particles.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")

    compare = commands.add_parser(
        "compare", help="grid PDE vs particle ensembles: law of large numbers and CLT report",
        description="Run CASE.toml once on its grid and as particle ensembles of each size n; write "
                    "report.json, report.md, lln.png, clt.png and clt_variance.png to DIR.")
    compare.add_argument("case", type=Path, help="TOML case file (see cases/README.md)")
    compare.add_argument("--n", dest="ns", default="100,1000,10000", metavar="N1,N2,...",
                         help="particle counts, comma-separated (default: 100,1000,10000)")
    compare.add_argument("--replicates", metavar="R", default="20",
                         help="independent replicates per n (default: 20, at least 2)")
    compare.add_argument("--seed", metavar="S", help="random seed (default: particles.seed)")
    compare.add_argument("--dt", metavar="DT", help="particle time step (default: time.dt, else from cfl)")
    _add_executor(compare, "processes running replicates in parallel (default: one per CPU)",
                  "run the replicates on the Dask scheduler at ADDRESS instead (needs pdesolve[sweep]); "
                  "the report does not depend on it")
    compare.add_argument("--set", dest="overrides", action="append", default=[],
                         metavar="SECTION.KEY=VALUE", help="override a case key, e.g. --set time.t_end=1")
    compare.add_argument("-o", "--output-dir", type=Path,
                         help="report directory (default: CASE-STEM_compare)")
    compare.add_argument("--force", action="store_true", help="replace an existing report directory")
    _add_backend(compare)
    compare.add_argument("-q", "--quiet", action="store_true", help="no progress messages")

    sweep = commands.add_parser(
        "sweep", help="run every point of a sweep file as a task on Dask; collect a table",
        description="Run the tasks of SWEEP.toml (a base case, axes of values, replicates; see "
                    "cases/sweeps/README.md) on a Dask cluster, one result file per task in DIR, and "
                    "write DIR/sweep.nc, a table of each task's parameters, status and scalars.")
    sweep.add_argument("sweep", type=Path, help="TOML sweep file")
    sweep.add_argument("-o", "--output-dir", type=Path, help="sweep folder (default: SWEEP-STEM)")
    _add_executor(sweep, "worker processes of a local Dask cluster (default: one per CPU; at most 4 per "
                         "CPU, and never more than the tasks left to run)",
                  "run on the Dask scheduler at ADDRESS (e.g. tcp://10.0.0.1:8786); DIR must be on a "
                  "file system every worker sees")
    sweep.add_argument("--resume", action="store_true",
                       help="continue the sweep in DIR: complete tasks are kept, interrupted ones "
                            "resume from their checkpoints, the rest run")
    sweep.add_argument("--force", action="store_true", help="empty an existing sweep folder first")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")

    info = commands.add_parser("info", help="what a result file, a partial file or a sweep folder holds",
                               description="Print the status, case, grid, times, invariants and checkpoint "
                                           "of a result file (also a running or killed run's hidden "
                                           "partial file), or the tasks of a sweep folder.")
    info.add_argument("result", type=Path, help="HDF5 file of 'pdesolve run' or 'particles', or a sweep folder")

    export = commands.add_parser("export", help="an XDMF sidecar of a 2-D or 3-D result, for ParaView",
                                 description="Write OUT.xdmf beside a grid result: ParaView (or any VTK-based "
                                             "reader) opens it as a time series of μ and V on the case grid, "
                                             "reading the result file in place.")
    export.add_argument("result", type=Path, help="HDF5 file written by 'pdesolve run' (2-D or 3-D)")
    export.add_argument("--xdmf", action="store_true", required=True, help="write an XDMF sidecar (the only format)")
    export.add_argument("-o", "--output", type=Path, metavar="FILE.xdmf",
                        help="where to write it (default: the result's name with .xdmf)")
    export.add_argument("--force", action="store_true", help="overwrite an existing XDMF file")

    cases = commands.add_parser("cases", help="list the shipped case files, or copy one here",
                                description="Without NAME: one line per shipped case file (name, grid, "
                                            "title).  With NAME: copy NAME.toml into DIR (default: the "
                                            "current directory) to run or edit it.")
    cases.add_argument("name", nargs="?", metavar="NAME", help="a shipped case to copy, e.g. gaussian_1d")
    cases.add_argument("-o", "--output-dir", type=Path, default=Path("."), metavar="DIR",
                       help="where to copy it (default: the current directory)")
    cases.add_argument("--force", action="store_true", help="overwrite an existing NAME.toml")

    plot = commands.add_parser("plot", help="figures of a result file or a sweep folder",
                               description="Write snapshots, diagnostics and potential figures of a grid "
                                           "result (3-D: also marginals; exact: the error against the "
                                           "exact solution where the case has one), the observables and "
                                           "histogram of a particle result, or, for a sweep folder, one "
                                           "figure per scalar of its sweep.nc against the swept parameters.")
    plot.add_argument("result", type=Path, help="HDF5 file written by 'pdesolve run', or a folder "
                                                "written by 'pdesolve sweep'")
    plot.add_argument("-o", "--output-dir", type=Path,
                      help="directory for the PNGs (default: RESULT-STEM_plots beside the file)")
    plot.add_argument("--against", type=Path, metavar="GRID.h5",
                      help="for a particle result: the grid run of the same case, drawn with it")
    plot.add_argument("--times", metavar="T1,T2,...",
                      help="snapshot times to show (the nearest stored one each; default: all in 1-D, "
                           "6 in 2-D, 3 in 3-D, evenly spaced)")
    plot.add_argument("--scale", metavar="auto|linear|log",
                      help="colour (1-D: vertical) scale of densities; auto (default) is linear unless "
                           "the panels' peaks differ more than 100-fold")
    plot.add_argument("--vmax", metavar="V", help="top of the density scale (default: the highest value shown)")
    plot.add_argument("--format", metavar="png|pdf|svg", help="file format of the figures (default: png)")
    plot.add_argument("--dpi", metavar="N", help="resolution of the figures (default: 110)")
    plot.add_argument("--movie", nargs="?", const="", metavar="FILE.gif|FILE.mp4",
                      help="instead of the figures, an animation of the density of a grid result, one frame "
                           "per snapshot (default file: DIR/density.gif; MP4 needs ffmpeg)")
    return parser


def _add_executor(command: argparse.ArgumentParser, workers_help: str, scheduler_help: str) -> None:
    """--workers N or --scheduler ADDRESS: where the command's tasks run."""
    where = command.add_mutually_exclusive_group()
    where.add_argument("--workers", metavar="N", help=workers_help)
    where.add_argument("--scheduler", metavar="ADDRESS", help=scheduler_help)


def _add_backend(command: argparse.ArgumentParser) -> None:
    """--backend NAME: the array backend of the grid and particle runs, the same as
    --set scheme.backend=NAME."""
    command.add_argument("--backend", metavar="NAME",
                         help=f"array backend of the grid and particle runs: {', '.join(BACKENDS)} "
                              "(the same as --set scheme.backend=NAME; jax needs pdesolve[jax] and "
                              "runs on a GPU when JAX finds one)")


def _executor_options(args: argparse.Namespace) -> str:
    """The --workers / --scheduler options given, as they would be typed again."""
    given = [(option, getattr(args, option.lstrip("-"), None)) for option in ("--workers", "--scheduler")]
    return "".join(f" {option} {value}" for option, value in given if value is not None)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _drive(args: argparse.Namespace, start: Callable[[], Any], report: Callable[[Any], str]) -> int:
    """Run ``start()`` (a grid or particle run of ``args.case``) and turn its outcome into
    the command's messages and exit code: bad input 2, a failed run 1, an interrupt
    128 + the signal with the resume command, else ``report(summary)`` unless quiet."""
    from .config.case import CaseError
    from .drive.dask_cluster import DaskMissingError
    from .drive.signals import RunInterrupted
    from .io.atomic import OutputTargetError, ResultFormatError

    try:
        summary = start()
    except (CaseError, FileExistsError, ResultFormatError, OutputTargetError, DaskMissingError) as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except RunInterrupted as err:
        sets = "".join(f" --set {o}" for o in args.overrides) + _executor_options(args)
        print(f"{err}; checkpoint saved in {err.output}\n"
              f"resume with: {_invocation()} {args.command} {args.case}{sets} --resume {err.output}",
              file=sys.stderr)
        return 128 + err.signum
    except RuntimeError as err:
        return _fail(f"{args.case}: {err}", EXIT_RUN_FAILED)
    except KeyboardInterrupt:
        print("interrupted before the run started: no result written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(report(summary))
    return 0


def _run(args: argparse.Namespace) -> int:
    from .config.case import load_case
    from .drive.grid_run import resume_case, run_case
    from .io.atomic import check_output_target

    overrides = tuple(args.overrides)

    if args.dry_run:
        return _dry_run(args, overrides)

    def start():
        case = load_case(args.case, overrides)
        if args.resume:
            return resume_case(case, args.resume, progress=not args.quiet, overrides=overrides)
        output = check_output_target(args.output or Path(case.output.path), force=args.force,
                                     inputs=(case.path,))
        return run_case(case, output, force=args.force, progress=not args.quiet, overrides=overrides)

    return _drive(args, start, lambda summary: "\n".join(summary.lines(_invocation())))


def _invocation() -> str:
    """How to type pdesolve again: ``pdesolve`` when that is on PATH, else the script's path
    (``.venv/bin/pdesolve`` when the virtual environment is not activated), or this Python
    with ``-m pdesolve`` when it was not started as the script."""
    import shutil

    script = Path(sys.argv[0])
    if script.name != "pdesolve":
        python = shutil.which("python")
        same = python is not None and Path(python).resolve() == Path(sys.executable).resolve()
        return f"{'python' if same else sys.executable} -m pdesolve"
    on_path = shutil.which("pdesolve")
    return "pdesolve" if on_path and Path(on_path).resolve() == script.resolve() else str(script)


def _dry_run(args: argparse.Namespace, overrides: tuple[str, ...]) -> int:
    """``run --dry-run``: the resolved case, Δt, steps, memory and disk; nothing written.  The
    case, the output path and the memory are checked as the run would check them."""
    import numpy as np

    from .config.case import CaseError, load_case
    from .config.toml_text import case_toml
    from .drive.grid_run import check_resources
    from .drive.resources import available_memory, estimate, gib
    from .fv.solver import Solver, StabilityError
    from .io.atomic import OutputTargetError, check_output_target
    from .model.build import build_setup

    if args.resume is not None:
        return _fail("--dry-run: not with --resume (a resumed run's case is the file's)", EXIT_BAD_INPUT)
    try:
        case = load_case(args.case, overrides)
        output = check_output_target(args.output or Path(case.output.path), force=True, inputs=(case.path,))
        check_resources(case)
        setup = build_setup(case)
        dt = Solver(setup.problem, setup.scheme, setup.mu0).stable_dt()
    except (CaseError, OutputTargetError) as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except StabilityError as err:
        return _fail(f"{args.case}: {err}", EXIT_RUN_FAILED)
    needed = estimate(case)
    how = "fixed time.dt" if case.time.dt is not None else f"time.cfl = {case.time.cfl:g} at t = 0; it adapts as μ changes"
    # every output time ends a step: each interval takes ceil(length / dt) steps
    intervals = np.diff(setup.output_times)
    steps = int(sum(math.ceil(length / dt) if math.isfinite(dt) else 1 for length in intervals if length > 0))
    bound = "" if case.time.dt is not None else "about "   # the adaptive Δt may grow or shrink

    def size(count: int) -> str:
        return gib(count) if count >= 2 ** 30 else f"{count / 2 ** 20:.3g} MiB"

    print(f"# {args.case} with every key and its value" + (" (and the --set overrides)" if overrides else "") + "\n")
    print(case_toml(case))
    print(f"# time step  dt = {dt:.4g} ({how})")
    print(f"# steps      {bound}{steps} to t_end = {case.time.t_end:g} over {intervals.size} output intervals "
          f"(limit time.max_steps = {case.time.max_steps})")
    print(f"# memory     about {size(needed.memory)} ({gib(available_memory())} available)")
    print(f"# disk       up to {size(needed.snapshots_on_disk)} of snapshots before compression")
    exists = output.exists() and not args.force
    print(f"# output     {output}" + (" (exists: the run needs --force)" if exists else ""))
    print("# nothing was run (--dry-run)")
    return 0


def _count(option: str, text: str | None, minimum: int) -> int | None:
    """The integer value of ``option`` (None when not given); ValueError with a one-line reason."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{option}: expected an integer, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"{option}: {value} is out of range (allowed: >= {minimum})")
    return value


def _particles(args: argparse.Namespace) -> int:
    from .config.case import load_case
    from .drive.particle_run import resume_particles_file, run_particles_file
    from .io.atomic import check_output_target

    overrides = tuple(args.overrides)
    try:
        options = dict(n=_count("--n", args.n, 1), replicates=_count("--replicates", args.replicates, 1),
                       seed=_count("--seed", args.seed, 0), workers=_count("--workers", args.workers, 1))
    except ValueError as err:
        return _fail(str(err), EXIT_BAD_INPUT)

    def start():
        case = load_case(args.case, overrides)
        if not args.resume:
            default = Path(case.output.path)
            output = check_output_target(args.output or default.with_name(f"{default.stem}_particles.h5"),
                                         force=args.force, inputs=(case.path,))
        with _replicate_pool(args.scheduler) as pool:
            if args.resume:
                return resume_particles_file(case, args.resume, progress=not args.quiet, overrides=overrides,
                                             keep_positions=True if args.positions else None, pool=pool,
                                             **options)
            return run_particles_file(case, output, force=args.force, progress=not args.quiet,
                                      keep_positions=args.positions, overrides=overrides, pool=pool,
                                      **options)

    return _drive(args, start, lambda summary: summary.line())


@contextlib.contextmanager
def _replicate_pool(scheduler: str | None):
    """The Dask pool of ``--scheduler`` (None without one: the local process pool is used)."""
    if scheduler is None:
        yield None
        return
    from .drive.dask_cluster import dask_client, require
    from .drive.particle_run import DaskPool

    require("distributed", command="--scheduler")
    with dask_client(scheduler=scheduler) as (client, _):
        yield DaskPool(client)


def _compare(args: argparse.Namespace) -> int:
    from .config.case import CaseError, load_case
    from .drive.dask_cluster import DaskMissingError
    from .io.atomic import OutputTargetError, check_output_target

    try:
        ns = [_count("--n", text.strip(), 1) for text in args.ns.split(",")]
        replicates = _count("--replicates", args.replicates, 2)
        seed = _count("--seed", args.seed, 0)
        workers = _count("--workers", args.workers, 1)
        dt = None if args.dt is None else float(args.dt)
        if dt is not None and not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"--dt: {args.dt} is not a positive finite number")
    except ValueError as err:
        return _fail(str(err).splitlines()[0], EXIT_BAD_INPUT)
    try:
        case = load_case(args.case, tuple(args.overrides))
    except CaseError as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    if dt is not None and dt > case.time.t_end:
        return _fail(f"--dt: {args.dt} is longer than the run (time.t_end = {case.time.t_end:g})",
                     EXIT_BAD_INPUT)
    outdir = args.output_dir or Path(f"{case.path.stem}_compare")
    try:
        check_output_target(outdir, force=args.force, inputs=(case.path,), directory=True)
    except (FileExistsError, OutputTargetError) as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    from .analysis.comparison import compare_into   # SciPy's statistics, Matplotlib: after the checks

    try:
        with _replicate_pool(args.scheduler) as pool:
            compare_into(case, ns, replicates, outdir, seed=seed, workers=workers, dt=dt,
                         progress=not args.quiet, pool=pool)
    except (CaseError, OutputTargetError, DaskMissingError) as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except ValueError as err:
        return _fail(f"{args.case}: {err}", EXIT_BAD_INPUT)
    except RuntimeError as err:
        return _fail(f"{args.case}: {err}", EXIT_RUN_FAILED)
    except KeyboardInterrupt:
        print("interrupted: no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"report written to {outdir}/ (report.md, report.json, lln.png, clt.png, clt_variance.png)")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .config.case import CaseError
    from .io.atomic import OutputTargetError
    from .drive.dask_cluster import MAX_WORKERS_PER_CPU, DaskMissingError
    from .drive.particle_run import available_cpus
    from .sweep.engine import run_sweep
    from .sweep.spec import load_sweep

    try:
        workers = _count("--workers", args.workers, 1)
        most = MAX_WORKERS_PER_CPU * available_cpus()
        if workers is not None and workers > most:
            raise ValueError(f"--workers: {workers} is out of range (allowed: <= {most}, {MAX_WORKERS_PER_CPU} "
                             "per CPU: more processes only compete for the CPUs)")
        if args.resume and args.force:
            raise ValueError("--resume and --force: give one (continue the sweep, or start it over)")
        sweep = load_sweep(args.sweep)
        outdir = args.output_dir or Path(args.sweep.stem)
        result = run_sweep(sweep, outdir, workers=workers, scheduler=args.scheduler, resume=args.resume,
                           force=args.force, progress=not args.quiet)
    except (ValueError, CaseError, FileExistsError, OutputTargetError, DaskMissingError) as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print("interrupted before the sweep started: nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.signum is not None:
        print(f"{result.line()}\nresume with: {_invocation()} sweep {args.sweep} -o {outdir} --resume"
              f"{_executor_options(args)}",
              file=sys.stderr)
        return 128 + result.signum
    if not args.quiet:
        print(result.line())
    return EXIT_RUN_FAILED if result.count("complete") < len(result.outcomes) else 0


def _info(args: argparse.Namespace) -> int:
    from .analysis.inspect import describe
    from .io.atomic import ResultFormatError

    try:
        lines = describe(args.result)
    except FileNotFoundError:
        return _fail(f"{args.result}: no such file", EXIT_BAD_INPUT)
    except ResultFormatError as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except (KeyError, ValueError) as err:   # a file with some of a result's parts, not all
        return _fail(f"{args.result}: not a pdesolve result ({err})", EXIT_BAD_INPUT)
    except OSError as err:
        return _fail(f"{args.result}: {err}", EXIT_BAD_INPUT)
    print("\n".join(lines))
    return 0


def _plot_options(args: argparse.Namespace) -> PlotOptions:
    """The figure options given on the command line; ValueError with a one-line reason."""
    from .analysis.plot_options import PlotOptions

    def number(option: str, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{option}: expected a number, got {text!r}") from None

    given = {}
    if args.times is not None:
        given["times"] = tuple(number("--times", t) for t in args.times.split(",")) if args.times.strip() else ()
        if not given["times"]:
            raise ValueError("--times: expected a comma-separated list of times, got nothing")
    if args.vmax is not None:
        given["vmax"] = number("--vmax", args.vmax)
    if args.dpi is not None:
        try:
            given["dpi"] = int(args.dpi)
        except ValueError:
            raise ValueError(f"--dpi: expected an integer, got {args.dpi!r}") from None
    for option in ("scale", "format"):
        if getattr(args, option) is not None:
            given[option] = getattr(args, option)
    return PlotOptions(**given)


def _result_plotter(path: Path, against: Path | None, options: PlotOptions,
                    movie: str | None) -> Callable[[Path, Path], list[Path]]:
    """How to draw the result file ``path``: a grid run, or particles (with the grid run
    ``against``); a run that did not finish is drawn as far as it got, labelled incomplete."""
    from .io.hdf5_access import open_hdf5, plain_value

    with open_hdf5(path, swmr=True) as f:
        kind = plain_value(f.attrs.get("kind", "run"))
    if kind == "particles":
        from .analysis.particle_plot import plot_particles
        if movie is not None:
            raise ValueError(f"--movie: animates the density of a grid result; {path} is a particle result")
        return lambda result, outdir: plot_particles(result, outdir, against, options)
    if against is not None:
        raise ValueError(f"--against: {path} is a grid result; --against goes with a particle result")
    if movie is not None:
        from .analysis.movie import write_movie
        return lambda result, outdir: [write_movie(result, Path(movie) if movie else outdir / "density.gif", options)]
    from .analysis.plotting import plot_result
    return lambda result, outdir: plot_result(result, outdir, allow_incomplete=True, options=options)


def _plot(args: argparse.Namespace) -> int:
    from .io.grid_result import ResultFormatError

    named = args.result if args.result.name not in ("", "..") else args.result.resolve()   # "." has no name
    stem = named.name.lstrip(".").split(".h5.")[0] if named.name.endswith(".partial") else named.stem
    outdir = args.output_dir or named.with_name(f"{stem}_plots")
    try:
        options = _plot_options(args)
    except ValueError as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    if args.movie is not None and args.format is not None:
        return _fail("--format: sets the format of the figures; a movie's is the end of its file name "
                     "(.gif or .mp4)", EXIT_BAD_INPUT)
    if not args.movie and outdir.exists() and not outdir.is_dir():
        return _fail(f"-o {outdir}: exists and is not a directory", EXIT_BAD_INPUT)
    try:
        if args.result.is_dir():
            from .analysis.sweep_plot import plot_sweep
            from .sweep.table import TABLE_NAME
            if not (args.result / TABLE_NAME).is_file():
                return _fail(f"{args.result}: is a directory, not a result file, and holds no {TABLE_NAME} "
                             "(not a sweep folder)", EXIT_BAD_INPUT)
            if args.against is not None:
                return _fail("--against: draws a grid run next to a particle result, not next to a sweep",
                             EXIT_BAD_INPUT)
            if args.movie is not None:
                return _fail("--movie: animates the density of a grid result, not a sweep folder", EXIT_BAD_INPUT)

            def plot(folder, outdir):
                return plot_sweep(folder, outdir, options)
        else:
            plot = _result_plotter(args.result, args.against, options, args.movie)
        written = plot(args.result, outdir)
    except FileNotFoundError as err:   # the result, or the --against file: open_hdf5 names it
        return _fail(str(err) if str(err).endswith(": no such file") else f"{args.result}: no such file",
                     EXIT_BAD_INPUT)
    except ResultFormatError as err:   # its message names the file
        return _fail(str(err), EXIT_BAD_INPUT)
    except (OSError, ValueError) as err:   # ValueError: a figure cannot be drawn from these inputs
        return _fail(str(err) if isinstance(err, ValueError) else f"{args.result}: {err}", EXIT_BAD_INPUT)
    for path in written:
        print(path)
    return 0


def _export(args: argparse.Namespace) -> int:
    from .io.atomic import OutputTargetError
    from .io.grid_result import ResultFormatError
    from .io.xdmf import export_xdmf

    try:
        target = export_xdmf(args.result, args.output, force=args.force)
    except FileNotFoundError as err:
        return _fail(str(err) if str(err).endswith(": no such file") else f"{args.result}: no such file",
                     EXIT_BAD_INPUT)
    except (ResultFormatError, OutputTargetError, FileExistsError, ValueError) as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except OSError as err:
        return _fail(f"{args.output or args.result}: {err.strerror or err}", EXIT_BAD_INPUT)
    print(target)
    return 0


def _cases(args: argparse.Namespace) -> int:
    from .config.shipped import ShippedCaseError, copy_case, listing

    if args.name is None:
        if args.force or args.output_dir != Path("."):
            return _fail("-o, --force: copy a case, so they need its NAME (pdesolve cases NAME -o DIR)",
                         EXIT_BAD_INPUT)
        print("\n".join(listing()))
        print(f"copy one with: {_invocation()} cases NAME")
        return 0
    try:
        target = copy_case(args.name, args.output_dir, force=args.force)
    except ShippedCaseError as err:
        return _fail(str(err), EXIT_BAD_INPUT)
    except OSError as err:
        return _fail(f"-o {args.output_dir}: {err.strerror or err}", EXIT_BAD_INPUT)
    print(target)
    print(f"run it with: {_invocation()} run {target}")
    return 0


COMMANDS = {"run": _run, "particles": _particles, "compare": _compare, "sweep": _sweep, "info": _info,
            "cases": _cases, "export": _export, "plot": _plot}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "backend", None) is not None:
        args.overrides.append(f"scheme.backend={args.backend}")
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
