"""An incident's milestones and TTD/TTA/TTM/TTR, as every surface shows them.

The one definition the export (``report/postmortem.py``), the drill debrief, the console and
``review`` share, so a figure is the same number wherever it is read: the engineer's marks,
filled in with the milestones the log implies (``effective_marks``), every figure measured
from the impact start (``journal.milestones.figures``). Each figure also says where it comes
from: "marked by you at ..." or "inferred: ... at ...", never a silent fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.journal.fold import IncidentState
from console.journal.milestones import (
    FIGURES,
    LABELS,
    Figures,
    Mark,
    effective_marks,
    figures,
    utc_text,
)


@dataclass(frozen=True)
class FigureLine:
    """One figure (``TTA``), its value as text and where its milestone comes from."""

    name: str
    milestone: str
    seconds: float | None
    text: str
    source: str

    def line(self) -> str:
        """``TTA 1m05s  acknowledged: marked by you at 2026-11-23 03:13:05Z``."""
        return f"{self.name} {self.text:<9} {LABELS[self.milestone]}: {self.source}"


@dataclass(frozen=True)
class IncidentFigures:
    """The marks in force, what was filled in or left out (``notes``) and the figures."""

    marks: dict[str, Mark]
    notes: list[str]
    computed: Figures

    @property
    def lines(self) -> list[FigureLine]:
        """TTD, TTA, TTM and TTR in that order."""
        return [self.line(name) for name, _ in FIGURES]

    def line(self, name: str) -> FigureLine:
        """The figure called ``name`` (``TTR``)."""
        milestone = dict(FIGURES)[name]
        return FigureLine(
            name,
            milestone,
            self.computed.seconds.get(name),
            self.computed.text(name),
            provenance(self.marks.get(milestone)),
        )

    @property
    def start_source(self) -> str:
        """Where the impact start (every figure's zero) comes from."""
        return provenance(self.marks.get("impact_started"))


def incident_figures(state: IncidentState) -> IncidentFigures:
    """The figures of the incident folded into ``state``."""
    marks, notes = effective_marks(state.milestones.current, state.derived)
    return IncidentFigures(marks, notes, figures(marks))


def provenance(mark: Mark | None) -> str:
    """Where a milestone comes from, in words a trainee or a reviewer reads."""
    if mark is None:
        return "not marked"
    if mark.source.startswith("derived: "):
        return f"inferred: {mark.source.removeprefix('derived: ')} at {utc_text(mark.at)}"
    said = f"marked by you at {utc_text(mark.at)}"
    if mark.backdated:
        said += f" (recorded at {utc_text(mark.recorded)})"
    return said


def marked_text(state: IncidentState, milestone: str) -> str:
    """What the console says after a mark: ``marked resolved: TTR 4m12s`` (the figure it
    completes, as the export will show it), or just ``marked ...`` for one without a figure."""
    said = f"marked {LABELS.get(milestone, milestone)}"
    name = next((n for n, m in FIGURES if m == milestone), None)
    if name is None:
        return said
    return f"{said}: {name} {incident_figures(state).line(name).text}"
