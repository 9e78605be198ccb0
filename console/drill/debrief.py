"""The drill debrief: how the trainee did against the scenario's expected path.

Pure: computed from the scenario and the incident state folded from the drill's log, so the
debrief of a finished drill's log is the same as the one shown when it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from console.drill.scenario import Scenario
from console.durations import format_duration
from console.journal.fold import IncidentState
from console.journal.milestones import parse_ts


@dataclass
class Debrief:
    """What the facilitator reads out at the end of a drill."""

    time_to_acknowledge: float | None = None
    time_to_mitigate: float | None = None
    ran: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notes: int = 0

    def lines(self) -> list[str]:
        """The debrief as plain text lines."""

        def fmt(value: float | None) -> str:
            return format_duration(value) if value is not None else "not reached"

        out = [
            f"time to acknowledge: {fmt(self.time_to_acknowledge)}",
            f"time to mitigate:    {fmt(self.time_to_mitigate)}",
            f"blocks run: {len(self.ran)} ({', '.join(self.ran) or 'none'})",
        ]
        if self.expected:
            done = len(self.expected) - len(self.missing)
            out.append(f"expected path: {done}/{len(self.expected)} done")
        for label, items in (
            ("missed", self.missing),
            ("out of order", self.out_of_order),
            ("not on the expected path", self.extra),
            ("steps skipped", self.skipped_steps),
            ("did not pass", self.failed),
        ):
            if items:
                out.append(f"{label}: {', '.join(items)}")
        out.append(f"notes written: {self.notes}")
        return out


def debrief(scenario: Scenario, state: IncidentState) -> Debrief:
    """Score the drill recorded in ``state`` against ``scenario``."""
    result = Debrief(expected=list(scenario.expected), notes=len(state.notes))
    first_alert = _first_alert(state)
    marks = state.milestones.current
    mitigated = marks.get("mitigated") or state.derived.get("resolved")
    acknowledged = marks.get("acknowledged")
    if first_alert is not None:
        if acknowledged is not None:
            result.time_to_acknowledge = max((acknowledged.at - first_alert).total_seconds(), 0)
        if mitigated is not None:
            result.time_to_mitigate = max((mitigated.at - first_alert).total_seconds(), 0)
    runs = sorted(state.runs.values(), key=lambda r: r.started.seq)
    for run in runs:
        block = run.started.data.block
        if block not in result.ran:
            result.ran.append(block)
        if run.status not in ("pass", "running") and block not in result.failed:
            result.failed.append(block)
    expected = set(scenario.expected)
    result.missing = [b for b in scenario.expected if b not in result.ran]
    result.extra = [b for b in result.ran if b not in expected]
    on_path = [b for b in result.ran if b in expected]
    in_order = _longest_in_order(on_path, scenario.expected)
    result.out_of_order = [b for b in on_path if b not in in_order]
    result.skipped_steps = [
        s.title for s in state.steps.values() if state.step_status(s.step) == "skipped"
    ]
    return result


def _first_alert(state: IncidentState) -> datetime | None:
    times = [parse_ts(a.firing.ts) for a in state.alerts.values()]
    return min(times) if times else None


def _longest_in_order(ran: list[str], expected: list[str]) -> set[str]:
    """The largest set of blocks that ran in the expected relative order (LIS on positions)."""
    position = {b: i for i, b in enumerate(expected)}
    seq = [position[b] for b in ran]
    best: list[list[int]] = []
    for index, value in enumerate(seq):
        chain = max((c for c in best if seq[c[-1]] < value), key=len, default=[])
        best.append([*chain, index])
    longest = max(best, key=len, default=[])
    return {ran[i] for i in longest}
