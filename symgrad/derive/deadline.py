"""A time limit on symbolic work that always holds.

SymPy can run for hours on a small hostile expression (``x**x**x**x**x**x**x**x**x**x**y``),
and a pure-Python library cannot interrupt it from inside: an alarm signal works only in the
main thread, only when no one else owns ``SIGALRM``, and its exception is swallowed when it
lands in a garbage-collector callback (then no second alarm comes). So :func:`run_within`
runs the work in a child process and ends that process at the deadline. The child is a
``fork`` of the caller: it starts in a few milliseconds with every module and SymPy cache
already loaded, and its answer comes back pickled through a pipe.

The limit holds in any thread, under any signal handler, and through gc callbacks, and it never
touches the caller's signal handlers or timers. Where ``os.fork`` does not exist (Windows) the
work runs in the caller's process with no time limit: a fresh interpreter (``spawn``) would
re-run the caller's ``__main__`` module, which breaks scripts written without the
``if __name__ == "__main__"`` idiom; there only symgrad's size caps stop hostile input.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import select
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from symgrad.errors import ComplexityError, UnknownNameError

__all__ = ["ENFORCED", "run_within", "validate_seconds"]

T = TypeVar("T")

#: Whether the limit can be enforced here (a platform with ``os.fork``).
ENFORCED = hasattr(os, "fork")


def validate_seconds(seconds: Any, name: str = "time_limit") -> float | None:
    """``seconds`` as a float, or None for no limit; anything else is an error naming ``name``.

    >>> validate_seconds(2)
    2.0
    >>> validate_seconds(0)
    Traceback (most recent call last):
    ...
    symgrad.errors.UnknownNameError: time_limit must be a positive number of seconds or None, got 0
    """
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
        msg = f"{name} must be a positive number of seconds or None, got {seconds!r}"
        raise UnknownNameError(msg)
    return float(seconds)


def run_within(seconds: float | None, work: Callable[[], T], expired: Callable[[], Exception]) -> T:
    """``work()`` in a child process, ended at ``seconds``; then ``expired()`` is raised.

    The result and any exception that ``work`` raises come back to the caller as they are
    (pickled), so ``work`` must return picklable data. With ``seconds=None``, or where
    :data:`ENFORCED` is false, the work runs here, in the caller's process, with no limit.

    Examples
    --------
    >>> run_within(5, lambda: 6 * 7, lambda: ValueError("too slow"))
    42
    >>> import time
    >>> run_within(0.2, lambda: time.sleep(60), lambda: ValueError("too slow"))
    Traceback (most recent call last):
    ...
    ValueError: too slow
    """
    if seconds is None or not ENFORCED:
        return work()
    child = _ForkedChild(work)
    try:
        outcome = child.wait(time.monotonic() + seconds)
    finally:
        child.end()
    if outcome is None:
        raise expired()
    kind, payload = outcome
    if kind == "raise":
        raise payload
    if kind == "unpicklable":
        msg = f"the symbolic work finished, but its answer could not be sent back: {payload}"
        raise ComplexityError(msg)
    return payload  # type: ignore[no-any-return]


def _outcome(work: Callable[[], Any]) -> bytes:
    """Run ``work`` (in the child) and pickle what happened."""
    try:
        result: tuple[str, Any] = ("return", work())
    except Exception as exc:  # every error goes back to the caller, to be raised there
        result = ("raise", exc)
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable result or exception: say which
        return pickle.dumps(("unpicklable", f"{type(exc).__name__}: {exc}"))


def _no_answer(code: int | None) -> ComplexityError:
    how = f"was killed by signal {-code} (out of memory?)" if code is not None and code < 0 else f"exited ({code})"
    msg = (
        f"the symbolic work stopped without an answer: its process {how}; "
        "simplify the expression, or differentiate fewer variables with wrt=[...]"
    )
    return ComplexityError(msg)


class _ForkedChild:
    """``work`` in a forked child that writes its pickled outcome to a pipe."""

    def __init__(self, work: Callable[[], Any]) -> None:
        read, write = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork in a multi-threaded process: a lock held by another
            # thread could deadlock the child. The child touches no such lock, and a child that
            # hung anyway would be ended at the deadline like any other.
            warnings.filterwarnings("ignore", message=r".*fork\(\)", category=DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: answer, then leave without running the parent's exit handlers
            status = 1
            try:
                os.close(read)
                data = _outcome(work)
                view = memoryview(data)
                while view:
                    view = view[os.write(write, view):]
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        self.pid, self.read = pid, read
        self.code: int | None = None

    def wait(self, deadline: float) -> tuple[str, Any] | None:
        chunks = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.read], [], [], remaining)[0]:
                return None
            chunk = os.read(self.read, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            self.end()
            raise _no_answer(self.code)
        return pickle.loads(b"".join(chunks))  # type: ignore[no-any-return]  # noqa: S301  (our own child)

    def end(self) -> None:
        if self.read >= 0:
            os.close(self.read)
            self.read = -1
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            try:
                _, status = os.waitpid(self.pid, 0)
                self.code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # SIGCHLD ignored, or a handler of the caller's reaped it
                pass
            self.pid = 0
