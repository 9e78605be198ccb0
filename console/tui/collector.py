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

_screens = 0  # screens running under these settings


@contextmanager
def screen_collector() -> Iterator[None]:
    """Freeze what exists and enlarge the young generation; both undone on leaving."""
    global _screens
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, 10, 10)
    _screens += 1
    try:
        yield
    finally:
        _screens -= 1
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def freeze_built() -> None:
    """Freeze what was built since the screen started (a console that paints its first frame
    before it builds its workspace): it lives as long as the screen, like what came before.
    Outside ``screen_collector`` (nothing would unfreeze it) it does nothing."""
    if _screens:
        gc.collect(1)  # what the build threw away (the opening frame's widgets) is not kept
        gc.freeze()
