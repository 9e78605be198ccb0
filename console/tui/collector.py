"""The garbage collector's settings while a screen runs (the console, review).

Full collections paused the screen 150-210 ms about once a second while output streamed and
keys moved it. What start-up built lives as long as the screen, so collections pass over it
(frozen), and young collections wait for 10,000 new objects instead of 700, so few objects
live long enough to need a full one (docs/performance.md, "Streaming output").
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def screen_collector() -> Iterator[None]:
    """Freeze what exists and enlarge the young generation; both undone on leaving."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
