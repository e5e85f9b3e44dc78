"""Mutation testing of the numerical core and the file layer with cosmic-ray (`make mutation`).

Each module is mutated only against the tests that cover it (SESSIONS below), in
``--workers`` clones of the committed tree that run side by side (one per core by
default), so that a mutant in one clone never reaches the tests of another.  The Numba
kernel modules are tested with the JIT disabled (NUMBA_DISABLE_JIT=1): recompiling a
kernel file for every mutant would cost 7–50 s each, and the kernels' own tests compare
them cell by cell with NumPy transcriptions, which the pure-Python run keeps.

Operators: every cosmic-ray operator, except that a binary operator is replaced only by
its natural partner (+ ↔ −, * ↔ /, ** → *, // → /, % → //) and a comparison only by its
boundary and its flip (< ↔ <=, > ↔ >=, < ↔ >, <= ↔ >=, == ↔ !=, is ↔ is not, in ↔ not
in): the other replacements (+ → <<, < → is, ...) are type errors or duplicates of these.
Removing @njit is skipped: it changes speed, never a result (equivalent by construction).
Lines marked ``# pragma: no mutate`` are skipped; each such line says why it is equivalent.

Writes ``mutation/RESULTS.md`` (per module: mutants, killed, survived, timed out, and
every survivor with its line) and exits 1 if the kill rate is below ``--target``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY_KEPT = ("Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul", "Pow_Mul", "FloorDiv_Div", "Mod_FloorDiv")
COMPARISON_KEPT = ("Lt_LtE", "LtE_Lt", "Gt_GtE", "GtE_Gt", "Lt_Gt", "Gt_Lt", "LtE_GtE", "GtE_LtE",
                   "Eq_NotEq", "NotEq_Eq", "Is_IsNot", "IsNot_Is", "In_NotIn", "NotIn_In")
EXCLUDED_OPERATORS = (
    r"core/ReplaceBinaryOperator_(?!(" + "|".join(BINARY_KEPT) + r")$)",
    r"core/ReplaceComparisonOperator_(?!(" + "|".join(COMPARISON_KEPT) + r")$)",
    r"core/RemoveDecorator",
)


@dataclass(frozen=True)
class Session:
    module: str
    tests: str
    pure_python: bool = False   # run with NUMBA_DISABLE_JIT=1
    seconds_per_mutant: float = 2.3   # measured, for sharing the sessions between workers
    timeout: float = 30.0   # about 4× the unmutated run: a mutant slower than that counts as caught


SESSIONS = (
    Session("pdesolve/fv/solver.py", "tests/test_invariants.py "
            "tests/test_exact_solutions.py::test_time_order_strang_two_lie_one", seconds_per_mutant=7.0,
            timeout=40.0),
    Session("pdesolve/fv/diagnostics.py", "tests/test_invariants.py", seconds_per_mutant=5.0, timeout=40.0),
    Session("pdesolve/fv/backends/numba/backend.py", "tests/test_invariants.py", seconds_per_mutant=5.0,
            timeout=40.0),
    Session("pdesolve/model/reactions/balanced.py", "tests/test_invariants.py tests/test_particles.py",
            seconds_per_mutant=6.0, timeout=40.0),
    Session("pdesolve/model/reactions/reinjection.py", "tests/test_invariants.py tests/test_reinjection.py",
            seconds_per_mutant=6.0, timeout=40.0),
    Session("pdesolve/fv/backends/numba/reaction.py", "tests/test_kernels.py -k 'not special_values'", True),
    Session("pdesolve/fv/backends/numba/transport.py", "tests/test_kernels.py -k 'not vectorisable_exp'", True),
    Session("pdesolve/particles/mesh_kernels.py", "tests/test_particle_mesh.py -k 'not direct_sum'", True),
    Session("pdesolve/io/grid_result.py", "tests/test_output.py"),
    Session("pdesolve/io/atomic.py", "tests/test_output.py tests/test_particles_cli.py"),
)


def config_text(session: Session) -> str:
    env = "NUMBA_DISABLE_JIT=1 " if session.pure_python else ""
    command = f"env {env}{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:hypothesispytest {session.tests}"
    excluded = ", ".join(f"'{pattern}'" for pattern in EXCLUDED_OPERATORS)
    return (f'[cosmic-ray]\nmodule-path = "{session.module}"\ntimeout = {session.timeout}\n'
            f'excluded-modules = []\ntest-command = "{command}"\n\n'
            f'[cosmic-ray.distributor]\nname = "local"\n\n'
            f'[cosmic-ray.filters.operators-filter]\nexclude-operators = [{excluded}]\n')


def run(command: list[str], cwd: Path, log) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    done = subprocess.run(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd} (see its log)")


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def session_name(session: Session) -> str:
    return session.module.removeprefix("pdesolve/").removesuffix(".py").replace("/", ".")


def prepare(session: Session, clone: Path, workdir: Path) -> int:
    """Create the session's mutants, mark the filtered ones skipped; return how many remain."""
    name = session_name(session)
    config, db = workdir / f"{name}.toml", workdir / f"{name}.sqlite"
    config.write_text(config_text(session), encoding="utf-8")
    if not db.exists():   # a resumed run keeps its mutants and results
        with open(workdir / f"{name}.log", "w", encoding="utf-8") as log:
            run([tool("cosmic-ray"), "init", str(config), str(db)], clone, log)
            run([tool("cr-filter-operators"), str(db), str(config)], clone, log)
            run([tool("cr-filter-pragma"), str(db)], clone, log)
    with sqlite3.connect(db) as connection:
        total, = connection.execute("SELECT COUNT(*) FROM mutation_specs").fetchone()
        done, = connection.execute("SELECT COUNT(*) FROM work_results").fetchone()
    return total - done


def run_worker(sessions: list[Session], clone: Path, workdir: Path) -> None:
    """Baseline and execute the prepared ``sessions`` one after the other in ``clone``."""
    for session in sessions:
        name = session_name(session)
        config, db = workdir / f"{name}.toml", workdir / f"{name}.sqlite"
        with open(workdir / f"{name}.log", "a", encoding="utf-8") as log:
            run([tool("cosmic-ray"), "baseline", str(config)], clone, log)
            started = time.monotonic()
            run([tool("cosmic-ray"), "exec", str(config), str(db)], clone, log)
            spent = workdir / f"{name}.seconds"   # summed over a run and its resumptions
            before = float(spent.read_text()) if spent.exists() else 0.0
            spent.write_text(f"{before + time.monotonic() - started:.0f}")


def outcomes(db: Path) -> list[tuple]:
    """(outcome, test_outcome, operator, line, diff) per mutant that was run or skipped."""
    with sqlite3.connect(db) as connection:
        return list(connection.execute(
            "SELECT r.worker_outcome, r.test_outcome, m.operator_name, m.start_pos_row, r.diff "
            "FROM work_results r JOIN mutation_specs m ON r.job_id = m.job_id"))


def report(workdir: Path, target: float, sessions: list[Session]) -> tuple[str, float]:
    lines = ["Generated by `make mutation` (mutation/run.py, cosmic-ray); do not edit.", "",
             "| module | tests | mutants run | killed | survived | timed out | skipped (filtered) | kill rate | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    survivors, total_run, total_killed = [], 0, 0
    for session in sessions:
        name = session_name(session)
        rows = outcomes(workdir / f"{name}.sqlite")
        ran = [r for r in rows if r[0].lower() == "normal"]
        killed = sum(1 for r in ran if r[1].lower() == "killed")
        survived = [r for r in ran if r[1].lower() == "survived"]
        timeouts = sum(1 for r in rows if r[0].lower() == "timeout")
        skipped = sum(1 for r in rows if r[0].lower() == "skipped")
        total_run += len(ran) + timeouts
        total_killed += killed + timeouts   # a mutant that hangs the tests is caught
        rate = (killed + timeouts) / max(1, len(ran) + timeouts)
        seconds = (workdir / f"{name}.seconds").read_text()
        jit = " (JIT off)" if session.pure_python else ""
        lines.append(f"| `{session.module}` | `{session.tests}`{jit} | {len(ran) + timeouts} | {killed} | "
                     f"{len(survived)} | {timeouts} | {skipped} | {rate:.1%} | {seconds} s |")
        survivors += [(session.module, *r) for r in survived]
    overall = total_killed / max(1, total_run)
    lines += ["", f"Overall: {total_killed} of {total_run} mutants killed ({overall:.1%}); "
              f"target {target:.0%} of the non-equivalent ones (see mutation/EQUIVALENT.md).", "",
              "## Survivors", ""]
    for module, _, _, operator, line, diff in sorted(survivors, key=lambda s: (s[0], s[4])):
        changed = [d for d in (diff or "").splitlines() if d.startswith(("-", "+"))
                   and not d.startswith(("---", "+++"))]
        shown = " / ".join(re.sub(r"\s+", " ", d).strip() for d in changed)
        lines.append(f"* `{module}:{line + 1}` {operator.removeprefix('core/')}: `{shown}`")
    return "\n".join(lines) + "\n", overall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--output", type=Path, default=ROOT / "mutation" / "RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the clones and session files")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="continue a run kept with --keep in DIR (its clones and results)")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="with --resume: run the surviving mutants again, against the latest tests")
    parser.add_argument("--sessions", nargs="+", metavar="MODULE",
                        help="only these modules (e.g. pdesolve/fv/solver.py); default: all")
    args = parser.parse_args(argv)
    if not args.resume and subprocess.run(["git", "status", "--porcelain", "pdesolve", "tests"], cwd=ROOT,
                                          capture_output=True, text=True).stdout.strip():
        raise SystemExit("pdesolve/ or tests/ has uncommitted changes: the clones test the last commit")
    base = args.resume or Path(tempfile.mkdtemp(prefix="pdesolve-mutation-"))
    workdir = base / "sessions"
    workdir.mkdir(exist_ok=True)
    clones = []
    for k in range(args.workers):
        clone = base / f"clone{k}"
        if clone.exists():   # resumed: drop any mutant left in place, test the latest commit
            subprocess.run(["git", "fetch", "--quiet", str(ROOT), "HEAD"], cwd=clone, check=True)
            subprocess.run(["git", "reset", "--quiet", "--hard", "FETCH_HEAD"], cwd=clone, check=True)
        else:
            subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        clones.append(clone)
    sessions = [s for s in SESSIONS if not args.sessions or s.module in args.sessions]
    if not sessions:
        raise SystemExit(f"no such session; the modules are {', '.join(s.module for s in SESSIONS)}")
    if args.rerun_survivors:
        for session in sessions:
            with sqlite3.connect(workdir / f"{session_name(session)}.sqlite") as connection:
                connection.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
    cost = {session: prepare(session, clones[0], workdir) * session.seconds_per_mutant
            for session in sessions}
    shares: list[list[Session]] = [[] for _ in range(args.workers)]
    for session in sorted(sessions, key=cost.get, reverse=True):   # longest first, to the least loaded
        min(shares, key=lambda share: sum(map(cost.get, share))).append(session)
    print(f"mutation testing in {base} with {args.workers} workers, about "
          f"{max(sum(map(cost.get, share)) for share in shares) / 60:.0f} min; logs in {workdir}", flush=True)
    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        for future in [pool.submit(run_worker, share, clone, workdir) for share, clone in zip(shares, clones)]:
            future.result()
    text, overall = report(workdir, args.target, sessions)
    text = text.replace("do not edit.", f"do not edit.  Wall time {time.monotonic() - started:.0f} s, "
                                        f"{args.workers} workers.", 1)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    if not args.keep:
        shutil.rmtree(base)
    return 0 if overall >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
