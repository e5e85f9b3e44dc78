"""The validation scripts whose quick runs are particle ensembles, end to end (their table
checks and the grid scripts are in test_validation.py; a file of their own, so that the two
test workers share the quick runs)."""
import pytest

from test_validation import PARTICLE_SCRIPTS, SCRIPTS, run_quick

PARTICLES = [s for s in SCRIPTS if s.stem in PARTICLE_SCRIPTS]


def test_every_particle_script_exists():
    assert sorted(s.stem for s in PARTICLES) == sorted(PARTICLE_SCRIPTS)


@pytest.mark.parametrize("script", PARTICLES, ids=[s.stem for s in PARTICLES])
def test_particle_validation_script_quick(script, tmp_path):
    run_quick(script, tmp_path)
