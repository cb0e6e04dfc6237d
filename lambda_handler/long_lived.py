"""What lives as long as the execution environment (the handler's modules, boto3 and its clients) is made with
Python's cycle collector paused, then frozen out of its later passes.

A cold start allocates some 100,000 such objects, most of them the clients' service models decoded from JSON.
Left to itself, the collector walks them over and over while they are made (in this harness about 30 ms of a
cold start of some 250 ms, one full pass alone about 15 ms: docs/PERFORMANCE.md), and finds nothing to free:
they are all still in use. `gc.freeze` moves everything alive into a generation the collector never walks, as
CPython's documentation describes for objects made once at start-up
(https://docs.python.org/3/library/gc.html#gc.freeze)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

__all__ = ["client", "collection_paused"]


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No collection while the block runs; once it ends, everything alive is frozen. What it made and let go is
    freed by reference counting as usual. A freeze sets aside all that is alive, not only what the block made:
    a client made during an invocation sets aside that invocation's objects too, which reference counting still
    frees; a reference cycle among them would stay for the environment's life, once per client (four at most)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def client(service: str, config: Any) -> Any:
    """A boto3 client, its service model kept out of later collections."""
    with collection_paused():
        # Here, not at the top: importing boto3 is itself a large part of what the pause is for.
        import boto3  # noqa: PLC0415

        return boto3.client(service, config=config)  # type: ignore[call-overload]
