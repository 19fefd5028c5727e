"""Ask Linux to signal a child process when the process that started it dies.

Without it a SIGKILLed veneer master leaves orphans behind: a supervised legacy
service holding its port, a registrar heartbeating for an instance that is gone,
or a worker that can no longer be told to stop.
"""

from __future__ import annotations

import signal
import sys
from typing import Callable

PR_SET_PDEATHSIG = 1


def death_signal_setter(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A function (usable as ``preexec_fn``, or called in a forked child) setting the death signal.

    Built before any fork, so ctypes is loaded in the parent, not in the child.
    None where the platform has no such facility.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig))

    return set_death_signal
