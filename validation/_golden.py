"""Golden outputs: prove that a restructuring changed no result.

    python validation/_golden.py record DIR      run everything below, write DIR/manifest.json
    python validation/_golden.py check DIR       run it again, compare with DIR/manifest.json

What is run: every ``cases/*.toml`` with ``pdesolve run``; two seeded ``pdesolve particles``
runs (1-D independent replicates, 2-D with the mesh interaction and stored positions); a
seeded ``pdesolve compare``; every validation script with ``--quick``.  What is compared:
every HDF5 dataset byte for byte (dtype, shape and the raw bytes' SHA-256), every HDF5
attribute except the ones that record when or how fast the run went (``IGNORED_ATTRS``),
the compare ``report.json`` without its timings, and the tables every validation script
writes.  Figures (PNG) are not compared: they embed the matplotlib version, and their
numbers are the tables'.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IGNORED_ATTRS = {"created", "pdesolve_version", "wall_time", "seconds"}
PARTICLE_RUNS = {
    "particles_1d": ["cases/gaussian_1d.toml", "--n", "400", "--replicates", "3", "--seed", "11",
                     "--workers", "1"],
    "particles_2d": ["cases/birth_death_2d.toml", "--n", "300", "--replicates", "2", "--seed", "5",
                     "--workers", "2", "--positions", "--set", "time.t_end=0.5",
                     "--set", "particles.interaction=mesh"],
}
COMPARE_RUN = ["cases/gaussian_1d.toml", "--n", "100,400", "--replicates", "4", "--seed", "2",
               "--workers", "2", "--set", "time.t_end=0.5"]


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _attr(value, file: h5py.File) -> str:
    """A stable text for an attribute value: numeric arrays by digest, object arrays (strings,
    dimension-scale references) element by element, references by the name they point to."""
    if isinstance(value, np.ndarray) and value.dtype != object and value.dtype.fields is None:
        return f"{value.dtype}{value.shape}:{_digest(value)}"
    if isinstance(value, (np.ndarray, np.void, tuple)):
        return "[" + ", ".join(_attr(item, file) for item in value) + "]"
    if isinstance(value, h5py.Reference):
        return f"ref {file[value].name}" if value else "null ref"
    return repr(value.decode() if isinstance(value, bytes) else value)


def hdf5_fingerprint(path: Path) -> dict[str, str]:
    """{object path: fingerprint} of every dataset and every kept attribute in ``path``."""
    found: dict[str, str] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                found[name] = f"{obj.dtype}{obj.shape}:{_digest(np.asarray(data))}"
            for key, value in obj.attrs.items():
                if key not in IGNORED_ATTRS:
                    found[f"{name}@{key}"] = _attr(value, f)
        for key, value in f.attrs.items():
            if key not in IGNORED_ATTRS:
                found[f"/@{key}"] = _attr(value, f)
        f.visititems(visit)
    return found


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if "second" not in k
                and k not in IGNORED_ATTRS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _pdesolve(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pdesolve", *args, "-q"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def produce(work: Path) -> dict[str, dict[str, str]]:
    """Run everything into ``work`` and fingerprint what it wrote."""
    manifest: dict[str, dict[str, str]] = {}
    for case in sorted((ROOT / "cases").glob("*.toml")):
        out = work / f"run_{case.stem}.h5"
        _pdesolve("run", str(case), "-o", str(out), "--force")
        manifest[out.name] = hdf5_fingerprint(out)
    for name, args in PARTICLE_RUNS.items():
        out = work / f"{name}.h5"
        _pdesolve("particles", *args, "-o", str(out), "--force")
        manifest[out.name] = hdf5_fingerprint(out)
    compare_dir = work / "compare"
    _pdesolve("compare", *COMPARE_RUN, "-o", str(compare_dir), "--force")
    report = json.loads((compare_dir / "report.json").read_text())
    manifest["compare/report.json"] = {"report": json.dumps(_without_timings(report), sort_keys=True)}
    manifest["compare/report.md"] = {"text": (compare_dir / "report.md").read_text()}
    for script in sorted((ROOT / "validation").glob("[!_]*.py")):
        outdir = work / "validation" / script.stem
        outdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(script), "--quick", "--outdir", str(outdir)], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        for table in sorted(outdir.glob("*.md")):
            manifest[f"validation/{table.name}"] = {"text": table.read_text()}
    return manifest


def _timing_free_lines(text: str) -> list[str]:
    """A report's lines without those that quote wall time (they differ run to run)."""
    return [line for line in text.splitlines() if " s " not in line and " s)" not in line
            and "wall" not in line]


def compare(expected: dict, found: dict) -> list[str]:
    """Every difference between two manifests, one line each."""
    problems = []
    for name in sorted(set(expected) | set(found)):
        if name not in found or name not in expected:
            problems.append(f"{name}: only in the {'recorded' if name in expected else 'new'} run")
            continue
        old, new = expected[name], found[name]
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if key == "text" and a is not None and b is not None:
                a, b = _timing_free_lines(a), _timing_free_lines(b)
            if a != b:
                problems.append(f"{name}: {key} differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    manifest_path = args.directory / "manifest.json"
    work = args.directory / ("recorded" if args.action == "record" else "checked")
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    found = produce(work)
    print(f"{sum(len(v) for v in found.values())} fingerprints from {len(found)} outputs "
          f"in {time.perf_counter() - started:.0f} s")
    if args.action == "record":
        manifest_path.write_text(json.dumps(found, indent=1, sort_keys=True))
        return 0
    problems = compare(json.loads(manifest_path.read_text()), found)
    for line in problems:
        print(line)
    print("identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
