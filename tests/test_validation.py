"""Every validation script runs end to end in --quick mode and writes its figure and table."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted(p for p in (Path(__file__).parent.parent / "validation").glob("*.py")
                 if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_validation_script_quick(script, tmp_path):
    done = subprocess.run([sys.executable, str(script), "--quick", "--outdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    pngs = list(tmp_path.glob("*.png"))
    tables = list(tmp_path.glob("*.md"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
    assert tables and all("| " in t.read_text() for t in tables)
