"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies, even by SIGKILL.

    Without it, the embedded Redis and the embedding workers of a killed server would live on,
    holding memory (and the Redis socket). Elsewhere than Linux this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os.kill(os.getpid(), sig)
