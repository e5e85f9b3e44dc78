"""The line a first run prints while Numba compiles, and only then."""
from numba import njit

from pdesolve.drive.compile_notice import MESSAGE, compile_notice


def test_the_notice_is_printed_once_while_numba_compiles_and_never_otherwise(capsys):
    @njit
    def plus_one(x):
        return x + 1

    with compile_notice(True):
        plus_one(1)
        plus_one(2.0)          # a second compilation: still one line
    assert capsys.readouterr().err.count(MESSAGE) == 1
    with compile_notice(True):
        plus_one(3)            # compiled already
    assert MESSAGE not in capsys.readouterr().err
    with compile_notice(False):
        njit(lambda x: x * 2)(1)
    assert capsys.readouterr().err == ""
