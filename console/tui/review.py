"""``incident-console review LOG``: the console, read-only, on a finished or running log.

A timeline you move through, one event at a time or one milestone at a time. Beside it, what
the console showed at that moment: the panels as of the latest metric snapshot (with their
history), the steps and the block runs with their per-node results and output, all from the
fold of the events up to the cursor (``console.report.replay``). Below, the milestones and
TTD/TTA/TTM/TTR of the whole log, as the export computes them, and above a verify banner that
says whether the chain and head check out. ``--follow`` tails a log another console is still
writing. The reviewer's remarks go to a file beside the log, never into it.

The log is verified and folded whole between keys, in slices: the first frame does not wait
for them, and says so while they run. What the fold keeps is moved out of the garbage
collector's sight (``gc.freeze``): with a big log, its full collections stalled the screen for
seconds.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from console.incident import QUIET_TYPES
from console.journal.events import BlockOutput, Event, MetricSnapshot
from console.journal.fold import BlockRun, IncidentState
from console.journal.log import default_actor
from console.journal.milestones import FIGURES, LABELS, ORDER, parse_ts, utc_text
from console.journal.reader import LogUnreadable, parse_record
from console.journal.redact import Redactor
from console.journal.verify import Verifier, VerifyReport
from console.report.milestones import IncidentFigures, incident_figures
from console.report.postmortem import Postmortem
from console.report.replay import (
    BadLine,
    FullPass,
    LogReplay,
    Remarks,
    split_batch,
    verify_banner,
)
from console.report.timeline import describe, offset_text
from console.sanitize import visible
from console.tui.collector import screen_collector
from console.tui.messages import while_running
from console.tui.review_export import (
    REVIEW_BINDINGS,
    ExportReviewApp,
    farewell,
    next_stop,
    review_layout,
)
from console.tui.screens import TextScreen
from console.tui.text import shown
from console.tui.themes import DEFAULT_THEME, console_variable_defaults, start_themes
from console.tui.widgets import (
    STEP_MARK,
    OutputLog,
    ResultsTable,
    output_text,
    panel_text,
)

FOLLOW_POLL_S = 0.25
POSTMORTEM_FORMAT = Postmortem.model_fields["format"].default
FOLLOW_OPEN_AT_END = 5000  # entries: more, and --follow opens at the start, then goes to the end
SLICE_S = 0.005  # the longest a key waits for one slice of the analysis of the log
MOVES_REST_S = 0.15  # the analysis waits until the reviewer's moves have rested this long
# How the line of a passed-over event ends as the writer writes it (keys sorted, so the
# envelope's type and version come last): nothing nested in the event can end the line so.
_QUIET_ENDINGS = tuple(f'","type":"{t}","v":1}}'.encode() for t in sorted(QUIET_TYPES))


class TimelineWindow(Static):
    """The entries around the cursor, as many as fit; drawn from the app on every refresh."""

    def render(self) -> Text:
        app = self.app
        assert isinstance(app, ReviewApp)
        return app.timeline_text(max(self.size.height, 1), max(self.size.width, 20))


class ReviewApp(App[str]):
    """Read-only review of one incident log."""

    CSS_PATH = "review.tcss"
    TITLE = "incident-console review"
    BINDINGS = [
        *REVIEW_BINDINGS,
        Binding("v", "toggle_every", "Every event", id="review-every"),
    ]

    def __init__(
        self,
        replay: LogReplay,
        *,
        redactor: Redactor | None = None,
        follow: bool = False,
        key: bytes | None = None,
        head: str | None = None,
    ) -> None:
        super().__init__()
        self.theme_problems = start_themes(self, DEFAULT_THEME, "theme (default)")
        self.replay = replay
        self.redactor = redactor or Redactor()
        self.follow = follow
        self.head = head
        self.verifier = Verifier(str(replay.path), key=key, head=head)
        self.remarks = Remarks.beside(replay.path)
        # Following, the screen shows the end; a big log's end is reached once it is folded
        # whole (between keys), not before the first frame.
        self._to_end = follow and len(replay) > FOLLOW_OPEN_AT_END
        self.cursor = len(replay) - 1 if follow and not self._to_end else 0
        self.every = False
        self.report: VerifyReport | None = None
        self.analysis: FullPass | None = None
        self.figures: IncidentFigures | None = None
        self.stops: list[int] = []
        self._state: IncidentState = replay.state_at(self.cursor)
        self._drawn: dict[str, object] = {}
        self._moved_at = 0.0  # when the reviewer last moved (the analysis yields to moves)

    def shown(self, text: str | None, *, one_line: bool = False) -> str:
        """Text from the log for the screen: redacted, controls as pictures."""
        return shown(self.redactor, text, one_line=one_line)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """The console's own theme variables for themes that leave them out."""
        return console_variable_defaults(self.current_theme)

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        right = Vertical(
            Static(id="review-steps"),
            ResultsTable(self.redactor, id="results"),
            OutputLog(id="review-output", wrap=True, markup=False),
            id="review-right",
        )
        yield from review_layout(
            Static("verifying the log…", id="banner", classes="pending"),
            TimelineWindow(id="review-timeline"),
            right,
        )

    def on_mount(self) -> None:
        self._title()
        self._show()
        for problem in self.remarks.problems[:3]:
            self.notify(self.shown(str(problem)), title="Review file", severity="warning")
        self.call_after_refresh(self._analyse)  # the first frame first, then the thread
        if self.follow:
            self.set_interval(FOLLOW_POLL_S, self._poll)

    def _title(self) -> None:
        state = self._state
        mode = {"drill": "DRILL", "live": "LIVE"}.get(state.mode, state.mode.upper())
        name = self.shown(self.replay.path.name, one_line=True)
        title = self.shown(state.title, one_line=True) or "(no incident.opened)"
        text = Text()
        text.append(" REVIEW ", style="reverse bold")
        text.append(f" {mode} · {title} · {self.shown(state.incident, one_line=True)} · {name}")
        text.append("  read-only", style="dim")
        self.query_one("#review-title", Static).update(text, layout=False)

    # -- the analysis, between keys --------------------------------------------------------------

    @work(exclusive=True, group="review-analysis")
    async def _analyse(self) -> None:
        """Verify the log and fold it whole, a slice of ``SLICE_S`` at a time on the screen's
        loop, so a key waits for one slice at most (a thread would hold the GIL for longer)."""
        batches = list(self.replay.batches)
        deadline = time.perf_counter() + SLICE_S
        for batch in batches:
            for part in split_batch(batch, 256):
                self.verifier.feed_batch(part)
                if time.perf_counter() > deadline:
                    await self._between_slices()
                    deadline = time.perf_counter() + SLICE_S
        pending = self.replay.pending
        if self.follow or pending is None:
            report = self.verifier.so_far() if self.follow else self.verifier.finish()
        else:  # a torn tail in a finished log: verify says so
            self.verifier.feed_batch(pending)
            report = self.verifier.finish()
        self._verified(report, len(batches))
        result = self.replay.whole_fold(sum(len(b.lines) for b in batches))
        while not self.replay.advance(result, SLICE_S):
            gc.freeze()  # what the fold keeps is kept for good: no collection rescans it
            await self._between_slices()
        gc.freeze()
        self._folded_whole(result)

    async def _between_slices(self) -> None:
        """Let the screen answer keys: while the reviewer moves (a held arrow key), the
        analysis waits; it goes on once the moves have rested ``MOVES_REST_S``."""
        await asyncio.sleep(0)
        while (rest := self._moved_at + MOVES_REST_S - time.perf_counter()) > 0:
            await asyncio.sleep(rest)

    @while_running
    def _verified(self, report: VerifyReport, fed: int) -> None:
        if self.follow:  # what was appended while verify ran, then the report so far
            for batch in self.replay.batches[fed:]:
                self.verifier.feed_batch(batch)
            report = self.verifier.so_far()
        self.report = report
        self._banner()

    @while_running
    def _folded_whole(self, result: FullPass) -> None:
        for i in range(result.entries, len(self.replay)):  # appended while it ran
            self._apply_final(result, i)
        self.analysis = result
        self._milestones_changed()
        if self._to_end:
            self._to_end = False
            self._go(len(self.replay) - 1)

    def _apply_final(self, result: FullPass, i: int) -> None:
        entry = self.replay.entry(i)
        if isinstance(entry, Event):
            result.state.apply(entry)
            result.index_of_seq.setdefault(entry.seq, i)
            if entry.type == "milestone":
                result.milestone_entries.append(i)
        result.entries = i + 1

    def _milestones_changed(self) -> None:
        result = self.analysis
        if result is None:
            return
        self.figures = incident_figures(result.state)
        stops = set(result.milestone_entries)
        for mark in self.figures.marks.values():
            if mark.seq in result.index_of_seq:
                stops.add(result.index_of_seq[mark.seq])
        self.stops = sorted(stops)
        self._show_milestones()
        self._status()

    # -- following a live log ----------------------------------------------------------------

    @while_running
    def _poll(self) -> None:
        at_end = self.cursor >= len(self.replay) - 1
        try:
            new = self.replay.refresh()
        except LogUnreadable as exc:
            self.notify(self.shown(str(exc)), title="Log", severity="error")
            return
        if self.replay.shrunk:
            self._banner()
            return
        if not new:
            return
        if self.report is not None:  # verified so far: go on with what was appended
            for batch in new:
                self.verifier.feed_batch(batch)
            self.report = self.verifier.so_far()
            self._banner()
        if self.analysis is not None:
            for i in range(self.analysis.entries, len(self.replay)):
                self._apply_final(self.analysis, i)
            self._milestones_changed()
        if at_end:
            self.cursor = len(self.replay) - 1
        self._show()

    # -- moving --------------------------------------------------------------------------------

    def _hidden(self, i: int) -> bool:
        """Whether entry ``i`` is passed over while moving (output and snapshots, unless ``v``).

        Told from the end of the line, so passing over thousands of output lines parses none;
        a line not written as the writer writes it is never passed over.
        """
        if self.every:
            return False
        line = self.replay.lines[i]
        return line.endswith(_QUIET_ENDINGS)

    def _step(self, start: int, direction: int) -> int | None:
        i = start + direction
        while 0 <= i < len(self.replay):
            if not self._hidden(i):
                return i
            i += direction
        return None

    def action_move(self, count: int) -> None:
        """Move ``count`` shown events forward (negative: back)."""
        direction = 1 if count > 0 else -1
        target = self.cursor
        for _ in range(abs(count)):
            found = self._step(target, direction)
            if found is None:
                break
            target = found
        self._go(target)

    def action_milestone(self, direction: int) -> None:
        """Jump to the next (or previous) milestone: set ones, and those the log derives."""
        stops = self.stops if self.analysis is not None else self._candidate_stops()
        target = next_stop(stops, self.cursor, direction)
        if target is None:
            self.notify("no milestone " + ("after" if direction > 0 else "before") + " this")
            return
        self._go(target)

    def _candidate_stops(self) -> list[int]:
        """Milestone events found so far, before the whole log is folded."""
        out = []
        for i in self.replay.milestone_candidates():
            entry = self.replay.entry(i)
            if isinstance(entry, Event) and entry.type == "milestone":
                out.append(i)
        return out

    def action_jump(self, where: str) -> None:
        self._go(0 if where == "home" else len(self.replay) - 1)

    def action_toggle_every(self) -> None:
        self.every = not self.every
        self.notify(
            "every event is shown" if self.every else "output and snapshots are passed over"
        )
        self._show()

    def _go(self, target: int) -> None:
        self._to_end = False  # the reviewer moved: stay where they are
        self._moved_at = time.perf_counter()
        if target == self.cursor:
            return
        self.cursor = target
        self._show()

    # -- remarks -------------------------------------------------------------------------------

    @work
    async def action_remark(self) -> None:
        entry = self.replay.entry(self.cursor)
        if not isinstance(entry, Event):
            self.notify("a remark is about an event; this line is not one", severity="warning")
            return
        text = await self.push_screen_wait(
            TextScreen(f"Remark on seq {entry.seq} (saved in {self.remarks.path.name})")
        )
        if not text:
            return
        try:
            self.remarks.add(entry, self.redactor.text(text), default_actor())
        except OSError as exc:
            self.notify(
                self.shown(f"{self.remarks.path}: cannot write the remark: {exc.strerror or exc}"),
                severity="error",
            )
            return
        self.notify(self.shown(f"remark saved in {self.remarks.path.name}"))
        self._show()

    def action_quit_review(self) -> None:
        self.workers.cancel_group(self, "review-analysis")
        self.exit(farewell(self.replay.path, self.remarks))

    # -- drawing -------------------------------------------------------------------------------

    def _show(self) -> None:
        if not len(self.replay):
            return
        self._state = self.replay.state_at(self.cursor)
        self._title()
        self.query_one(TimelineWindow).refresh()
        self._show_event()
        self._show_panels()
        self._show_runs()
        self._show_milestones()
        self._status()

    def entry_line(self, i: int) -> Text:
        """One timeline line: time, seq and meaning (or why the line is not an event)."""
        entry = self.replay.entry(i)
        text = Text()
        if isinstance(entry, BadLine):
            text.append(f"line {entry.line}: not an event: ", style="bold")
            text.append(self.shown(entry.reason, one_line=True))
            return text
        text.append(f"{entry.ts[11:19]} #{entry.seq:<6} ", style="dim")
        if self.remarks.about(entry.seq):
            text.append("✎ ", style="bold")
        text.append(self.shown(describe(entry), one_line=True))
        return text

    def timeline_text(self, height: int, width: int = 200) -> Text:
        """The shown entries around the cursor, the cursor's line marked: ``height`` lines cut
        to ``width`` cells."""
        if not len(self.replay):
            return Text("the log holds no line yet", style="dim")
        above: list[int] = []
        i: int | None = self.cursor
        while len(above) < height // 3:
            i = self._step(i, -1) if i is not None else None
            if i is None:
                break
            above.append(i)
        lines = [*reversed(above), self.cursor]
        i = self.cursor
        while len(lines) < height:
            i = self._step(i, 1) if i is not None else None
            if i is None:
                break
            lines.append(i)
        out = Text(no_wrap=True, overflow="ellipsis")
        for n, index in enumerate(lines):
            line = self.entry_line(index)
            if index == self.cursor:
                line = Text("▶ ") + line
                line.stylize("reverse")
            else:
                line = Text("  ") + line
            line.truncate(width, overflow="ellipsis")
            out.append_text(line)
            if n < len(lines) - 1:
                out.append("\n")
        return out

    def _show_event(self) -> None:
        entry = self.replay.entry(self.cursor)
        out = Text()
        if isinstance(entry, BadLine):
            out.append(f"line {entry.line} is not an event: ", style="bold")
            out.append(self.shown(entry.reason))
        else:
            out.append(f"seq {entry.seq} · {entry.type} · {entry.ts} · ", style="bold")
            out.append(self.shown(entry.actor, one_line=True))
            out.append(f"\n{self.shown(describe(entry))}")
            if isinstance(entry.data, BlockOutput):
                out.append(f"\n{self.shown(entry.data.text)}")
            for remark in self.remarks.about(entry.seq):
                changed = "" if remark.hash == entry.hash else " (the event changed since)"
                out.append(
                    f"\n✎ {self.shown(remark.actor, one_line=True)} {remark.at}", style="bold"
                )
                out.append(f"{changed}: {self.shown(remark.text)}")
        self.query_one("#review-event", Static).update(out, layout=False)

    def _changed(self, part: str, key: object) -> bool:
        """Whether ``part`` of the screen must be drawn again (what it shows depends on ``key``):
        a move inside one block run redraws neither its output nor the panels."""
        if self._drawn.get(part) == key:
            return False
        self._drawn[part] = key
        return True

    def _show_panels(self) -> None:
        state = self._state
        snap_seq = state.snapshots[-1].seq if state.snapshots else None
        if not self._changed("panels", (snap_seq, tuple(state.alerts), len(state.firing))):
            return
        out = Text()
        if not state.snapshots:
            out.append("no metric snapshot yet at this point", style="dim")
        else:
            snap = state.snapshots[-1]
            assert isinstance(snap.data, MetricSnapshot)
            out.append(
                f"as of snapshot seq {snap.seq}, {snap.ts[11:19]}Z ({snap.data.reason})\n",
                style="dim",
            )
            for panel in snap.data.panels:
                out.append_text(panel_text(panel, self.redactor))
                out.append("\n")
        firing = state.firing
        out.append(f"\nFiring alerts ({len(firing)})\n", style="bold")
        for alert in firing:
            data = alert.firing.data
            out.append(f" {self.shown(data.alertname, one_line=True)}", style="bold")
            labels = ",".join(f"{k}={v}" for k, v in sorted(data.labels.items()))
            out.append(f" {self.shown(labels, one_line=True)}\n", style="dim")
        self.query_one("#review-panels", Static).update(out)

    def _focused_run(self) -> BlockRun | None:
        """The run the cursor's event belongs to, else the latest one started."""
        state = self._state
        entry = self.replay.entry(self.cursor)
        run_id = getattr(entry.data, "run", None) if isinstance(entry, Event) else None
        if isinstance(run_id, str) and run_id in state.runs:
            return state.runs[run_id]
        return next(reversed(state.runs.values()), None)

    def _show_runs(self) -> None:
        state = self._state
        run = self._focused_run()
        run_key = None
        if run is not None:
            nodes = tuple(
                (name, len(node.chunks), len(node.truncated), node.result is not None)
                for name, node in run.nodes.items()
            )
            run_key = (run.started.seq, run.status, nodes)
        steps = tuple((slug, state.step_status(slug)) for slug in state.steps)
        if not self._changed("runs", (steps, state.current_step, len(state.runs), run_key)):
            return
        out = Text()
        out.append("Steps\n", style="bold")
        for slug, step in sorted(state.steps.items(), key=lambda kv: kv[1].number):
            mark = STEP_MARK.get(state.step_status(slug), " ")
            current = " ◀" if slug == state.current_step else ""
            title = self.shown(step.title, one_line=True)
            out.append(f" {mark} {step.number}. {title}{current}\n")
        if not state.steps:
            out.append(" none entered yet\n", style="dim")
        out.append(f"Block runs ({len(state.runs)})", style="bold")
        if run is not None:
            data = run.started.data
            block = self.shown(data.block, one_line=True)
            out.append(f"\n {data.kind} {block} (run {self.shown(data.run, one_line=True)}): ")
            out.append(run.status, style="bold")
        self.query_one("#review-steps", Static).update(out, layout=False)
        if not self._changed("run", run_key):
            return
        self.query_one(ResultsTable).show(run)
        self.query_one("#review-output", OutputLog).replace(output_text(run, self.redactor))

    def _show_milestones(self) -> None:
        out = Text()
        if self.figures is None:
            if self._changed("milestones", None):
                out.append("milestones and figures: reading the whole log…", style="dim")
                self.query_one("#review-milestones", Static).update(out, layout=False)
            return
        seq = self._cursor_seq()
        marks = self.figures.marks
        reached = tuple(seq is not None and mark.seq <= seq for mark in marks.values())
        if not self._changed("milestones", (id(self.figures), reached)):
            return
        for name in ORDER:
            mark = marks.get(name)
            if mark is None:
                continue
            passed = seq is not None and mark.seq <= seq
            out.append("◆ " if passed else "◇ ", style="bold" if passed else "dim")
            how = ", inferred" if mark.source.startswith("derived") else ""
            out.append(f"{LABELS[name]} {utc_text(mark.at)[11:]} (seq {mark.seq}{how})  ")
        if not marks:
            out.append("no milestone in the log", style="dim")
        computed = self.figures.computed
        drill = self.analysis is not None and self.analysis.state.mode != "live"
        out.append("\n" + ("drill figures: " if drill else "figures: "), style="bold")
        if computed.refused:
            out.append("refused: " + self.shown(computed.refused[0], one_line=True))
        else:
            out.append("  ".join(f"{name} {computed.text(name)}" for name, _ in FIGURES))
        self.query_one("#review-milestones", Static).update(out, layout=False)

    def _cursor_seq(self) -> int | None:
        for i in range(self.cursor, -1, -1):
            entry = self.replay.entry(i)
            if isinstance(entry, Event):
                return entry.seq
        return None

    def _banner(self) -> None:
        banner = self.query_one("#banner", Static)
        if self.replay.shrunk:
            banner.update(
                Text("✘ the log became shorter while it was followed: rewritten or truncated")
            )
            banner.set_classes("error")
            return
        if self.report is None:
            return
        result = verify_banner(self.report, live=self.follow, wanted_head=self.head)
        banner.update(Text(self.shown(result.text)))
        banner.set_classes(result.tone)

    def _status(self) -> None:
        state = self._state
        text = Text()
        text.append(f" entry {self.cursor + 1}/{len(self.replay)} ", style="reverse")
        if state.first_ts and state.last_ts:
            seconds = (parse_ts(state.last_ts) - parse_ts(state.first_ts)).total_seconds()
            text.append(f" seq {state.last_seq} · {offset_text(seconds)} from the opening")
        text.append(" · every event" if self.every else " · output and snapshots passed over")
        if self.follow:
            text.append(" · following the log")
            if self._to_end:
                text.append(" (to the end once it is read)")
        if self.remarks.items:
            text.append(f" · {len(self.remarks.items)} remark(s)")
        self.query_one("#status", Static).update(text, layout=False)


def open_replay(path: Path) -> LogReplay:
    """Read ``path`` for review; raises ``LogUnreadable`` if it cannot be read."""
    replay = LogReplay(path)
    replay.refresh()
    return replay


def export_in(replay: LogReplay) -> Postmortem | None:
    """The JSON postmortem export ``replay`` holds instead of a log, if it is one
    (``export --format json``: an indented object, so its first line is ``{``).

    Raises ``LogUnreadable`` if it says it is an export but is not a valid one.
    """
    if not len(replay) or replay.lines[0].strip() != b"{":
        return None
    try:
        tail = replay.pending.lines if replay.pending else []  # no final newline
        record = parse_record(b"\n".join([*replay.lines, *tail]))
    except ValueError:
        return None
    if record.get("format") != POSTMORTEM_FORMAT:
        return None
    try:
        return Postmortem.model_validate(record)
    except ValueError as exc:  # pydantic's ValidationError is one
        reason = visible(str(exc).splitlines()[0], one_line=True)
        raise LogUnreadable(f"{replay.path}:1: not a valid postmortem export: {reason}") from None


def run_review(
    path: Path,
    *,
    redactor: Redactor,
    follow: bool = False,
    key: bytes | None = None,
    head: str | None = None,
) -> str | None:
    """Open the review screen on ``path`` until the reviewer quits; returns the farewell line.
    A JSON postmortem export opens its own screen (``review_export``): no chain, no events.

    Raises ``LogUnreadable`` if the log cannot be read or holds no line (unless followed).
    """
    replay = open_replay(path)
    exported = export_in(replay)
    if exported is not None:
        return ExportReviewApp(path, exported, redactor=redactor).run()
    if not len(replay) and not follow:
        raise LogUnreadable(f"{path}:1: not an incident log (no complete line)")
    app = ReviewApp(replay, redactor=redactor, follow=follow, key=key, head=head)
    with screen_collector():
        return app.run()
