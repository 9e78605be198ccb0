"""The drill debrief: how the trainee did against the scenario's expected path.

Pure: computed from the scenario and the incident state folded from the drill's log, so the
debrief of a finished drill's log is the same as the one shown when it ended. The figures are
the export's (``report/milestones.py``), each with where it comes from. The path is scored
block by block: missed, out of order, a verdict other than the scenario expects, an action on
nodes the scenario does not name, blocks off the path; and each inject's time to the first
response. ``run --scenario`` exits 0 exactly when ``deviations`` is empty.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from console.drill.scenario import Scenario
from console.durations import format_duration
from console.journal.fold import BlockRun, IncidentState
from console.journal.milestones import parse_ts, utc_text
from console.report.milestones import IncidentFigures, incident_figures

_CONTROL = re.compile(r"^facilitator: (pause|resume|speed=)")
"""A facilitator's clock control, journalled as ``drill.inject`` but not an inject to answer."""


@dataclass(frozen=True)
class InjectResponse:
    """An inject and how long until the trainee's first response to it (None: no response)."""

    at: datetime
    description: str
    seconds: float | None
    response: str = ""

    def line(self) -> str:
        """``03:12:05Z "The pager goes off..." -> 12s (block quorum started)``."""
        said = f'{utc_text(self.at)} "{self.description}"'
        if self.seconds is None:
            return f"{said} -> no response"
        return f"{said} -> {format_duration(self.seconds)} ({self.response})"


@dataclass
class Debrief:
    """What the facilitator reads out at the end of a drill."""

    figures: IncidentFigures
    ran: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    wrong_nodes: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    responses: list[InjectResponse] = field(default_factory=list)
    notes: int = 0

    @property
    def deviations(self) -> list[str]:
        """Every way the run left the expected path (empty: it followed it)."""
        return [
            *(f"missed: {b}" for b in self.missing),
            *(f"out of order: {b}" for b in self.out_of_order),
            *(f"unexpected verdict: {v}" for v in self.verdicts),
            *(f"action on the wrong nodes: {w}" for w in self.wrong_nodes),
            *(f"not on the expected path: {b}" for b in self.extra),
        ]

    def lines(self) -> list[str]:
        """The debrief as plain text lines."""
        figures = self.figures
        out = [f"figures (from impact started, {figures.start_source}):"]
        if figures.computed.refused:
            out += [f"  refused: {why}" for why in figures.computed.refused]
        out += [f"  {f.line()}" for f in figures.lines]
        out.append(f"blocks run: {len(self.ran)} ({', '.join(self.ran) or 'none'})")
        if self.expected:
            done = len(self.expected) - len(self.missing)
            required = f" (with {', '.join(self.required)}, which it requires)"
            out.append(
                f"expected path: {done}/{len(self.expected)} done"
                + (required if self.required else "")
            )
        for label, items in (
            ("missed", self.missing),
            ("out of order", self.out_of_order),
            ("unexpected verdicts", self.verdicts),
            ("actions on the wrong nodes", self.wrong_nodes),
            ("not on the expected path", self.extra),
            ("steps skipped", self.skipped_steps),
        ):
            if items:
                out.append(f"{label}: {', '.join(items)}")
        if self.responses:
            out.append("time from each inject to the first response:")
            out += [f"  {r.line()}" for r in self.responses]
        out.append(f"notes written: {self.notes}")
        return out


def debrief(
    scenario: Scenario, state: IncidentState, *, only: Collection[str] | None = None
) -> Debrief:
    """Score the drill recorded in ``state`` against ``scenario``; ``only`` limits the
    expected path to the blocks a partial run could reach (``run --step``)."""
    result = Debrief(incident_figures(state), notes=len(state.notes))
    runs = sorted(state.runs.values(), key=lambda r: r.started.seq)
    final: dict[str, BlockRun] = {}
    for run in runs:
        block = run.started.data.block
        if block not in result.ran:
            result.ran.append(block)
        final[block] = run
    expected = {e.block: e for e in scenario.expected if only is None or e.block in only}
    result.expected = list(expected)
    required = {
        need for block in expected if block in final for need in final[block].started.data.requires
    }
    result.required = [b for b in result.ran if b in required and b not in expected]
    result.missing = [b for b in expected if b not in final]
    on_path = [b for b in result.ran if b in expected]
    in_order = _longest_in_order(on_path, result.expected)
    result.out_of_order = [b for b in on_path if b not in in_order]
    if expected:
        result.extra = [b for b in result.ran if b not in expected and b not in required]
    for block, run in final.items():
        want = expected[block].verdict if block in expected else "pass"
        if run.status != want:
            result.verdicts.append(f"{block} {run.status} (expected {want})")
        nodes = expected[block].nodes if block in expected else None
        if run.started.data.kind == "action" and nodes is not None:
            wrong = [n for n in run.started.data.nodes if n not in nodes]
            if wrong:
                result.wrong_nodes.append(
                    f"{block} on {', '.join(wrong)} (expected {', '.join(nodes)})"
                )
    result.skipped_steps = [
        s.title for s in state.steps.values() if state.step_status(s.step) == "skipped"
    ]
    result.responses = _inject_responses(state)
    return result


def _inject_responses(state: IncidentState) -> list[InjectResponse]:
    """Each inject (not a clock control) and the trainee's first response after it."""
    answers: list[tuple[int, datetime, str]] = []
    for run in state.runs.values():
        started = run.started
        answers.append(
            (started.seq, parse_ts(started.ts), f"{started.data.kind} {started.data.block} started")
        )
        answers += [
            (c.seq, parse_ts(c.ts), f"action {c.data.block} confirmed") for c in run.confirmations
        ]
    answers += [(n.note.seq, parse_ts(n.note.ts), "a note") for n in state.notes]
    answers += [
        (mark.seq, mark.recorded, f"marked {mark.name}")
        for mark in state.milestones.by_seq.values()
    ]
    answers.sort()
    out = []
    for inject in state.injects:
        if _CONTROL.match(inject.data.description):
            continue
        at = parse_ts(inject.ts)
        first = next((a for a in answers if a[0] > inject.seq), None)
        seconds = max((first[1] - at).total_seconds(), 0.0) if first else None
        out.append(InjectResponse(at, inject.data.description, seconds, first[2] if first else ""))
    return out


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
