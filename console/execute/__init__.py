"""Execution: targets (local, SSH), the runner (fan-out, timeouts, cancel) and the session.

The public surface for the TUI, the journal wiring and the drill:

- ``RunbookSession(runbook, config, sink, ...)``: plan, confirm and run blocks and steps;
- ``Target`` / ``Process`` / ``TargetProvider``: what a simulator implements;
- ``BlockRun`` / ``NodeRun``: results, also recorded as events on the sink.
"""

from console.execute.runner import BlockRun, BlockRunner, NodeRun
from console.execute.session import (
    BlockPlan,
    ConfirmAnswer,
    ConfirmRequest,
    RunbookSession,
    SessionRun,
    StepRun,
)
from console.execute.target import (
    Chunk,
    ConnectionLost,
    ExitStatus,
    KillReport,
    Process,
    Target,
    TargetError,
)
from console.execute.targets import LOCAL, LiveTargets, TargetProvider

__all__ = [
    "LOCAL",
    "BlockPlan",
    "BlockRun",
    "BlockRunner",
    "Chunk",
    "ConfirmAnswer",
    "ConfirmRequest",
    "ConnectionLost",
    "ExitStatus",
    "KillReport",
    "LiveTargets",
    "NodeRun",
    "Process",
    "RunbookSession",
    "SessionRun",
    "StepRun",
    "Target",
    "TargetError",
    "TargetProvider",
]
