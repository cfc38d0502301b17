"""Ctrl-C and SIGTERM handled at once, on a thread of their own, whatever the main thread does.

Two traps make a plain ``signal.signal`` handler miss or hang a cancel:

- The kernel gives a signal sent to the process to any of its threads. Python only runs the
  Python-level handler on the main thread, when it next runs bytecode; a main thread blocked
  waiting for the run's jobs (a lock with no timeout) runs it only once the run is over. A
  Ctrl-C during a 30-second stage was noticed after the stage had finished, SUCCESS.
- That handler runs between two bytecodes wherever the main thread is: inside a write to
  stderr holding the console's lock, inside a cancel holding a scope's lock, inside the handler
  of the Ctrl-C before. A handler taking one of those locks waits for itself for ever.

So the signal's number goes to a pipe through ``signal.set_wakeup_fd``, which CPython's C-level
handler writes in whichever thread received it, and a watching thread reads the pipe and does
the work (say it, cancel the run, stop the scheduler) like any other thread. The Python-level
handler does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_WATCHING = 0  # no signal has number 0: the byte that ends the watching thread
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _noticed_elsewhere(signum: int, frame: Any) -> None:
    """The Python-level handler: the watching thread has the signal already (and KeyboardInterrupt
    must not tear through the run)."""


@contextlib.contextmanager
def handling_signals(
    on_signal: Callable[[int], None], signals: tuple[signal.Signals, ...] = STOPPING_SIGNALS
) -> Iterator[None]:
    """While inside, each of ``signals`` calls ``on_signal(number)`` on a watching thread.

    On leaving, the previous handlers and wakeup fd are back and every one of ``signals``
    received before then has been handled. Must be entered on the main thread (the rule of
    ``signal.signal`` and ``signal.set_wakeup_fd``).
    """
    wanted = {int(sig) for sig in signals}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # set_wakeup_fd's rule: a flood of signals never blocks

    def watch() -> None:
        while True:
            received = os.read(read_end, 64)
            for number in received:
                if number == STOP_WATCHING:
                    return
                if number in wanted:  # the wakeup fd carries every signal with a Python handler
                    on_signal(number)
            if not received:
                return

    watcher = threading.Thread(target=watch, name="runwright-signals", daemon=True)
    watcher.start()
    previous = {sig: signal.signal(sig, _noticed_elsewhere) for sig in signals}
    previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, old in previous.items():
            signal.signal(sig, old)
        os.set_blocking(write_end, True)  # the end marker must get through
        os.write(write_end, bytes([STOP_WATCHING]))
        watcher.join()
        os.close(write_end)
        os.close(read_end)
