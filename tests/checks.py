"""Small checks the tests share: a time limit on a block, and the CLI's one-line error."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Callable


@contextmanager
def time_limit(seconds: float, error: Callable[[], BaseException]):
    """Raise `error()` in the block, instead of hanging or filling memory, when it runs past `seconds` (SIGALRM)."""
    def on_alarm(signum, frame):
        raise error()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def one_line_error(capsys, *needles: str) -> str:
    """The CLI's error on stderr: one `clipstudy: error: ` line holding every needle, and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    line = next((ln for ln in err.splitlines() if ln.startswith("clipstudy: error: ")), None)
    assert line is not None, err
    for n in needles:
        assert n in line, line
    return line
