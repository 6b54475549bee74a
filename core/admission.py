"""One admission path for every heavy action on a shared server: no Streamlit here.

A live training, a comparison run, a guided trade-off measurement, a Play tick, a large text-to-image batch:
each asks the process-wide :func:`gate` for a :class:`Ticket` before it runs and gives it back in a ``finally``
(the ticket is a context manager), whatever ends the run: it finishes, raises, is rerun or stopped because
its tab was closed, or the server shuts down. Two caps, read from the environment when the gate is made:

- ``GENLAB_MAX_TRAININGS`` (default 2): heavy actions running at once. On a 2-core server a third one only
  slows every other one down, so it waits in the queue (``enter``) or is turned away (``try_enter``).
- ``GENLAB_MAX_TRAIN_SECONDS`` (default 180): the longest one action may run. Loops ask ``ticket.expired()``
  between steps and stop; a stated estimate above it is refused before anything runs (:func:`check_cost`).

The slot is not tied to any object's lifetime (an earlier design released it when the progress box was
garbage-collected, which never happened while a page module kept it reachable: a tab closed mid-training
kept its slot for ever). ``release`` is idempotent, so a ``finally`` and an explicit release never free twice.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field


class Busy(RuntimeError):
    """No slot freed up within the wait allowed."""


class TooCostly(ValueError):
    """An action whose stated cost is above what the server allows one action."""


def max_running() -> int:
    return max(1, int(os.environ.get("GENLAB_MAX_TRAININGS", "2")))


def max_seconds() -> float:
    return max(1.0, float(os.environ.get("GENLAB_MAX_TRAIN_SECONDS", "180")))


@dataclass(eq=False)
class Ticket:
    """A held slot: ``what`` runs since ``t0`` and must stop by ``deadline``; ``release()`` gives it back once."""
    gate: Gate
    what: str
    t0: float = field(default_factory=time.monotonic)
    seconds: float = field(default_factory=max_seconds)
    released: bool = False

    @property
    def deadline(self) -> float:
        return self.t0 + self.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def release(self) -> None:
        self.gate._release(self)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


class Gate:
    """At most ``n`` tickets out at once; the tickets out are listed by :meth:`running`."""

    def __init__(self, n: int | None = None, seconds: float | None = None):
        self.n = max_running() if n is None else max(1, int(n))
        self.seconds = max_seconds() if seconds is None else float(seconds)
        self._sem = threading.BoundedSemaphore(self.n)
        self._lock = threading.Lock()
        self._out: list[Ticket] = []

    def _issue(self, what: str) -> Ticket:
        t = Ticket(self, what, seconds=self.seconds)
        with self._lock:
            self._out.append(t)
        return t

    def try_enter(self, what: str) -> Ticket | None:
        """A ticket now, or None when every slot is taken."""
        return self._issue(what) if self._sem.acquire(blocking=False) else None

    def enter(self, what: str, wait: float = 300.0) -> Ticket:
        """A ticket, waiting up to ``wait`` seconds for a slot; :class:`Busy` if none frees up."""
        if not self._sem.acquire(timeout=max(0.0, wait)):
            raise Busy(f"no slot freed up in {wait:.0f} s ({self.n} heavy actions run at once on this server)")
        return self._issue(what)

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            self._out.remove(ticket)
        self._sem.release()

    def running(self) -> list[str]:
        """What holds a slot now (for messages and tests)."""
        with self._lock:
            return [t.what for t in self._out]

    def free(self) -> int:
        with self._lock:
            return self.n - len(self._out)


_GATE: Gate | None = None
_GATE_LOCK = threading.Lock()


def gate() -> Gate:
    """The process's one gate (made on first use, with the caps the environment sets then)."""
    global _GATE
    with _GATE_LOCK:
        if _GATE is None:
            _GATE = Gate()
        return _GATE


def reset_gate(n: int | None = None, seconds: float | None = None) -> Gate:
    """Replace the process's gate (tests; a server never needs it). Tickets of the old gate stay valid."""
    global _GATE
    with _GATE_LOCK:
        _GATE = Gate(n, seconds)
        return _GATE


def check_cost(estimate_s: float, what: str) -> None:
    """Refuse, before it runs, an action whose estimated seconds exceed the cap on one action."""
    limit = gate().seconds
    if estimate_s > limit:
        raise TooCostly(f"{what} would take about {estimate_s:.0f} s here; the server allows {limit:.0f} s per "
                        "heavy action. Choose fewer samples or steps.")
