"""``incident-console review``: walking a log read-only, driven as a reviewer would (Pilot)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Static

from console.cli import cli
from console.journal.events import Event, MetricSnapshot, Note
from console.journal.fold import IncidentState, fold
from console.journal.reader import LineBatch, read_log
from console.report.postmortem import build_postmortem
from console.report.replay import BadLine, LogReplay, Remarks, copy_state, split_batch
from console.tui.review import FOLLOW_OPEN_AT_END, ReviewApp, export_in, open_replay
from console.tui.review_export import ExportReviewApp
from console.tui.screens import TextScreen
from tests.journal.conftest import EXAMPLE_LOG, forge
from tests.security.test_corpus import corpus_files, materialise

REPO = Path(__file__).resolve().parents[2]


async def until(pilot: Pilot[str], check: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await pilot.pause(0.05)


def text_of(app: ReviewApp, selector: str) -> str:
    """What a Static shows, as plain text."""
    return str(app.query_one(selector, Static).render())


def example_log(tmp_path: Path) -> Path:
    log = tmp_path / EXAMPLE_LOG.name
    shutil.copyfile(EXAMPLE_LOG, log)
    return log


def fold_upto(events: list[Event], seq: int) -> IncidentState:
    return fold(e for e in events if e.seq <= seq)


async def test_moving_shows_the_fold_up_to_the_cursor(tmp_path: Path) -> None:
    log = example_log(tmp_path)
    events = read_log(log).events
    replay = LogReplay(log, every=5)  # checkpoints every 5 entries: going back uses them
    replay.refresh()
    app = ReviewApp(replay)
    async with app.run_test(size=(160, 45)) as pilot:
        assert app.cursor == 0
        seen = []
        for _ in range(15):
            await pilot.press("down")
            entry = replay.entry(app.cursor)
            assert isinstance(entry, Event)
            assert entry.type not in ("block.output", "metric.snapshot")  # passed over
            assert app._state == fold_upto(events, entry.seq)
            seen.append(entry.seq)
        assert seen == sorted(seen) and len(set(seen)) == 15
        for _ in range(9):  # back again, across checkpoints
            await pilot.press("up")
            entry = replay.entry(app.cursor)
            assert isinstance(entry, Event) and app._state == fold_upto(events, entry.seq)
        await pilot.press("end")
        assert app.cursor == len(events) - 1 and app._state == fold(events)
        await pilot.press("up")
        assert app._state == fold_upto(events, events[app.cursor].seq)
        await pilot.press("home")
        assert app._state == fold(events[:1])

        # What the screen shows at a moment: endpoint-status on m2 has failed, restart not run
        failed = next(e for e in events if e.type == "node.result" and "m2" in e.data.node)
        app._go(failed.seq)
        await pilot.pause()
        assert "endpoint-status on m2: FAIL" in text_of(app, "#review-event")
        steps = text_of(app, "#review-steps")
        assert "1. Confirm quorum still holds" in steps and "endpoint-status" in steps
        assert "running" in steps  # the block had not finished at that event
        panels = text_of(app, "#review-panels")
        snapshot = [e for e in events if e.seq <= failed.seq and e.type == "metric.snapshot"][-1]
        assert f"as of snapshot seq {snapshot.seq}" in panels and "EtcdMemberDown" in panels

        started = next(e for e, after in itertools.pairwise(events) if after.type == "block.output")
        app._go(started.seq)
        await pilot.press("down")  # output is passed over...
        assert events[app.cursor].type != "block.output"
        app._go(started.seq)
        await pilot.press("v", "down")  # ...unless every event is shown
        assert events[app.cursor].type == "block.output"
        assert app._state == fold_upto(events, events[app.cursor].seq)


async def test_milestones_and_figures_are_the_exports(tmp_path: Path) -> None:
    log = example_log(tmp_path)
    events = read_log(log).events
    exported = build_postmortem(events, log_name=log.name)
    app = ReviewApp(open_replay(log))
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.figures is not None and app.report is not None)
        assert exported.figures is not None and app.figures is not None
        figures = {f.name: f.text for f in exported.figures.figures}
        assert {n: app.figures.computed.text(n) for n in figures} == figures
        shown = text_of(app, "#review-milestones")
        for name, value in figures.items():
            assert f"{name} {value}" in shown
        marks = {m.name: m.seq for m in exported.milestones}
        assert {n: m.seq for n, m in app.figures.marks.items()} == marks

        stops = []
        for _ in range(len(marks) + 3):
            await pilot.press("right_square_bracket")
            stops.append(events[app.cursor].seq)
        milestone_events = {e.seq for e in events if e.type == "milestone"}
        assert milestone_events <= set(stops)
        assert set(marks.values()) <= set(stops)
        await pilot.press("left_square_bracket")
        assert events[app.cursor].seq == sorted(set(stops))[-2]
        assert "✔ chain verified" in text_of(app, "#banner")
        assert app.query_one("#banner").has_class("ok")


def _rewrite_line(log: Path, seq: int, old: bytes, new: bytes) -> None:
    lines = log.read_bytes().split(b"\n")
    assert old in lines[seq]
    lines[seq] = lines[seq].replace(old, new)
    log.write_bytes(b"\n".join(lines))


async def test_a_tampered_log_opens_with_the_banner_saying_so(tmp_path: Path) -> None:
    log = example_log(tmp_path)
    events = read_log(log).events
    note = next(e for e in events if isinstance(e.data, Note))
    _rewrite_line(log, note.seq, b"m2 refuses", b"m1 refuses")
    app = ReviewApp(open_replay(log))
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.report is not None)
        banner = text_of(app, "#banner")
        assert "NOT VERIFIED" in banner and f"seq {note.seq}" in banner
        assert "hash does not match" in banner
        assert app.query_one("#banner").has_class("error")
        await until(pilot, lambda: app.figures is not None)  # still walkable
        app._go(note.seq)
        await pilot.pause()
        assert "m1 refuses" in text_of(app, "#review-event")


async def test_a_hostile_log_shows_nothing_raw(tmp_path: Path) -> None:
    log = forge(
        tmp_path / "hostile.jsonl",
        [Note(text="\x1b]52;c;ZXZpbA==\x07 paste me \x1b[2J"), Note(text="token=hunter2secret")],
    )
    with open(log, "ab") as handle:  # a garbage line, then a torn tail
        handle.write(b'{"type": "\x1b[31mred", "seq": 9}\n{"v":1,"seq":3,"ts":"2026')
    app = ReviewApp(open_replay(log))
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.report is not None and app.figures is not None)
        for _ in range(5):
            await pilot.press("down")
        screen = app.timeline_text(40)
        assert "\x1b" not in screen.plain and "\x07" not in screen.plain
        assert "␛]52;c;ZXZpbA==␇ paste me" in screen.plain
        assert "not an event" in screen.plain  # the garbage line, shown as what it is
        assert "hunter2secret" not in screen.plain and "token=[REDACTED]" in screen.plain
        assert isinstance(app.replay.entry(len(app.replay) - 1), BadLine)
        for selector in ("#review-event", "#banner", "#review-panels", "#review-steps"):
            assert "\x1b" not in text_of(app, selector)
        banner = text_of(app, "#banner")
        assert "NOT VERIFIED" in banner or "torn" in banner
        assert app.verifier.torn is not None  # the torn tail reached verify


async def test_remarks_go_beside_the_log_and_come_back(tmp_path: Path) -> None:
    log = example_log(tmp_path)
    before = hashlib.sha256(log.read_bytes()).hexdigest()
    app = ReviewApp(open_replay(log))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("down", "down", "down")
        seq = app.replay.entry(app.cursor)
        assert isinstance(seq, Event)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        for key in "why so late":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await until(pilot, lambda: app.remarks.items)
        await pilot.press("q")
    remarks = tmp_path / (log.stem + ".review.jsonl")
    lines = remarks.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["seq"] == seq.seq
    assert json.loads(lines[0])["text"] == "why so late"
    assert hashlib.sha256(log.read_bytes()).hexdigest() == before  # the log is untouched
    assert oct(remarks.stat().st_mode & 0o777) == "0o600"

    with open(remarks, "a") as handle:  # a hostile line in the remarks file: a problem only
        handle.write('{"seq": "x\\u001b[2J"}\n')
    again = ReviewApp(open_replay(log))
    async with again.run_test(size=(160, 45)) as pilot:
        again._go(seq.seq)
        await pilot.pause()
        assert "✎" in again.timeline_text(40).plain
        assert "why so late" in text_of(again, "#review-event")
        assert len(again.remarks.problems) == 1
        assert "1 remark(s)" in text_of(again, "#status")


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from console.journal.events import MilestoneSet, Note
    from console.journal.log import JournalLog

    async def main(path, go):
        log = JournalLog.create(path, None, "followed", actor="ic@host", mode="test",
                                fsync="never")
        for i in range(3):
            await log.emit(Note(text=f"before {i}"))
        while not Path(go).exists():
            await asyncio.sleep(0.05)
        await log.emit(MilestoneSet(name="acknowledged"))
        for i in range(5):
            await log.emit(Note(text=f"after {i}"))
            await asyncio.sleep(0.05)
        await log.close("done")

    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
    """
)


async def test_follow_tails_a_log_another_process_writes(tmp_path: Path) -> None:
    log, go = tmp_path / "followed.jsonl", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(go)], env=env)
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not (log.exists() and log.read_bytes().count(b"\n") >= 4):
            assert writer.poll() is None and asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        app = ReviewApp(open_replay(log), follow=True)
        async with app.run_test(size=(160, 45)) as pilot:
            assert len(app.replay) == 4 and app.cursor == 3
            await until(pilot, lambda: app.report is not None)
            assert "so far (live log)" in text_of(app, "#banner")
            go.touch()
            await until(pilot, lambda: len(app.replay) == 11)  # 1 milestone, 5 notes, close
            assert writer.wait(30) == 0
            events = read_log(log).events
            assert app.cursor == len(events) - 1  # it followed the end
            assert app._state == fold(events)
            await until(pilot, lambda: app.figures is not None)
            assert "acknowledged" in app.figures.marks
            assert app.query_one("#banner").has_class("ok")
            assert "after 4" in text_of(app, "#review-event") or "closed" in text_of(
                app, "#review-event"
            )
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_copy_state_is_independent_and_refuses_unknown_kinds() -> None:
    events = read_log(EXAMPLE_LOG).events
    half = fold(events[:20])
    copied = copy_state(half)
    assert copied == half
    for event in events[20:]:
        copied.apply(event)
    assert half == fold(events[:20]) and copied == fold(events)
    with pytest.raises(TypeError, match="cannot copy"):
        copy_state(object())


def test_a_copy_and_its_original_go_on_apart_though_they_share_block_runs() -> None:
    """Block runs are shared between a state and its copy and copied on change: folding on
    from either side, at any point, never shows in the other."""
    events = read_log(EXAMPLE_LOG).events
    for cut in range(1, len(events)):
        original = fold(events[:cut])
        copied = copy_state(original)
        for event in events[cut:]:
            original.apply(event)
        assert copied == fold(events[:cut])
        for event in events[cut:]:
            copied.apply(event)
        assert original == copied == fold(events)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40))
def test_the_state_at_any_entry_in_any_order_is_the_fold_up_to_it(moves: list[int]) -> None:
    events = read_log(EXAMPLE_LOG).events
    replay = LogReplay(EXAMPLE_LOG, every=3)
    replay.refresh()
    for move in moves:
        i = move % len(events)
        assert replay.state_at(i) == fold(events[: i + 1])


def test_remarks_path_is_beside_the_log(tmp_path: Path) -> None:
    assert Remarks.beside(tmp_path / "a.jsonl").path == tmp_path / "a.review.jsonl"
    assert Remarks.beside(tmp_path / "a.json").path == tmp_path / "a.review.jsonl"
    named = tmp_path / "x.review.jsonl"
    assert Remarks.beside(named).path != named


def test_review_command_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["review", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "cannot read the log" in missing.output
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = runner.invoke(cli, ["review", str(empty)])
    assert result.exit_code == 2 and "not an incident log" in result.output


def test_snapshots_are_passed_over_but_still_folded(tmp_path: Path) -> None:
    log = example_log(tmp_path)
    replay = open_replay(log)
    types = [replay.entry(i) for i in range(len(replay))]
    snaps = [i for i, e in enumerate(types) if isinstance(e, Event) and e.type == "metric.snapshot"]
    assert snaps
    after = snaps[0] + 1
    assert replay.state_at(after).snapshots[-1].seq == snaps[0]
    assert isinstance(replay.state_at(after).snapshots[-1].data, MetricSnapshot)


HOSTILE_LOGS = [item for item in corpus_files() if item.startswith("logs/")]
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("item", HOSTILE_LOGS)
async def test_every_hostile_log_of_the_corpus_opens_and_shows_nothing_raw(
    item: str, tmp_path: Path
) -> None:
    log = Path(materialise(item, tmp_path)["{log}"])
    replay = open_replay(log)
    if not len(replay):  # nothing to review: the command refuses it (tested above)
        return
    app = ReviewApp(replay)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.report is not None and app.figures is not None, 60)
        for key in ("down", "v", "down", "end", "up", "right_square_bracket", "home"):
            await pilot.press(key)
            shown = [app.timeline_text(40).plain]
            shown += [str(w.render()) for w in app.query(Static)]
            for text in shown:
                assert not RAW.search(text), f"{item}: raw control after {key}: {text[:200]!r}"
        banner = text_of(app, "#banner")
        assert banner.startswith(("✔", "✘")), banner


def test_replay_reads_appended_lines_holds_a_partial_one_and_sees_a_shrink(
    tmp_path: Path,
) -> None:
    source = read_log(EXAMPLE_LOG)
    lines = EXAMPLE_LOG.read_bytes().splitlines(keepends=True)
    log = tmp_path / "growing.jsonl"
    log.write_bytes(b"".join(lines[:3]) + lines[3][:10])
    replay = open_replay(log)
    assert len(replay) == 3 and replay.pending is not None  # a line being written: held
    with open(log, "ab") as handle:
        handle.write(lines[3][10:] + lines[4])
    new = replay.refresh()
    assert [b.number for b in new] == [4] and len(replay) == 5 and replay.pending is None
    assert replay.state_at(4) == fold(source.events[:5])
    log.write_bytes(lines[0])  # rewritten under the reviewer
    assert replay.refresh() == [] and replay.shrunk


def test_split_batch_keeps_line_numbers_and_offsets() -> None:
    parts = split_batch(LineBatch(7, 100, [b"ab", b"c", b"def"]), 2)
    assert parts == [LineBatch(7, 100, [b"ab", b"c"]), LineBatch(9, 105, [b"def"])]


async def test_follow_on_a_big_log_opens_at_once_then_goes_to_the_end(tmp_path: Path) -> None:
    log = forge(tmp_path / "big.jsonl", [Note(text=f"n{i}") for i in range(FOLLOW_OPEN_AT_END)])
    app = ReviewApp(open_replay(log), follow=True)
    async with app.run_test(size=(160, 45)) as pilot:
        assert app.cursor == 0  # the first frame did not wait for the fold of the whole log
        assert "to the end once it is read" in text_of(app, "#status")
        await until(pilot, lambda: app.analysis is not None, 120)
        assert app.cursor == len(app.replay) - 1
        assert app._state == fold(read_log(log).events)


def test_the_command_opens_the_screen_and_says_where_the_remarks_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = example_log(tmp_path)
    Remarks.beside(log).add(read_log(log).events[3], "seen before", "rev@host")
    real_run = ReviewApp.run

    def driven(self: ReviewApp, **_: object) -> str | None:
        async def work(pilot: Pilot[str]) -> None:
            await pilot.press("end", "q")

        return real_run(self, headless=True, size=(120, 40), auto_pilot=work)

    monkeypatch.setattr(ReviewApp, "run", driven)
    result = CliRunner().invoke(cli, ["review", str(log), "--head", "e9c8e8316c0b"])
    assert result.exit_code == 0, result.output
    assert f"review of {log} closed; 1 remark(s) in {log.with_suffix('.review.jsonl')}" in (
        result.output
    )


@pytest.mark.parametrize(
    ("head", "says"),
    [("e9c8e8316c0b", "reaches head e9c8e8316c0b"), ("0badc0ffee", "does not reach head")],
)
async def test_the_banner_checks_the_head_given(tmp_path: Path, head: str, says: str) -> None:
    app = ReviewApp(open_replay(example_log(tmp_path)), head=head)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.report is not None)
        assert says in text_of(app, "#banner")


async def test_follow_waits_for_the_first_event_of_an_empty_log(tmp_path: Path) -> None:
    log = tmp_path / "new.jsonl"
    log.write_bytes(b"")
    app = ReviewApp(open_replay(log), follow=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.report is not None)
        assert "waiting for the first event" in text_of(app, "#banner")
        shutil.copyfile(EXAMPLE_LOG, log)
        await until(pilot, lambda: len(app.replay) == 44)
        await until(pilot, lambda: "✔ chain verified so far" in text_of(app, "#banner"))
        assert app.cursor == 43


async def test_a_followed_log_growing_while_review_stops_is_not_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The follow timer can fire after the screens are gone (quitting): the poll is dropped
    rather than ending review with an error; the events are read when review opens again."""
    log = tmp_path / "new.jsonl"
    log.write_bytes(b"")
    app = ReviewApp(open_replay(log), follow=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.report is not None)
        shutil.copyfile(EXAMPLE_LOG, log)

        def panes_gone(*_args: object, **_kwargs: object) -> None:  # fault: as while stopping
            raise NoMatches("No nodes match '#banner'")

        with monkeypatch.context() as stopping:
            stopping.setattr(ReviewApp, "is_running", property(lambda _app: False))
            stopping.setattr(app, "query_one", panes_gone)
            app._poll()
        assert len(app.replay) == 0
        await until(pilot, lambda: len(app.replay) == 44)  # running again: it follows on
    assert app._exception is None


async def test_a_json_export_opens_on_its_own_screen(tmp_path: Path) -> None:
    export = tmp_path / "pm.json"
    log = example_log(tmp_path)
    done = CliRunner().invoke(cli, ["export", str(log), "--format", "json", "-o", str(export)])
    assert done.exit_code == 0, done.output
    exported = export_in(open_replay(export))
    assert exported is not None and exported.log.file == log.name
    app = ExportReviewApp(export, exported)
    async with app.run_test(size=(160, 45)) as pilot:
        assert "no hash chain to verify here" in text_of(app, "#banner")
        assert exported.figures is not None
        shown = text_of(app, "#review-milestones")
        for figure in exported.figures.figures:
            assert f"{figure.name} {figure.text}" in shown
        failed = next(i for i, r in enumerate(exported.timeline) if "FAIL" in r.text)
        while app.cursor < failed:
            await pilot.press("down")
        assert "endpoint-status" in text_of(app, "#review-steps")
        await pilot.press("right_square_bracket")
        assert exported.timeline[app.cursor].type == "milestone"
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        await pilot.press("o", "k", "enter")
        await until(pilot, lambda: app.remarks.items)
    assert app.remarks.path == tmp_path / "pm.review.jsonl"
    assert json.loads(app.remarks.path.read_text())["seq"] == exported.timeline[app.cursor].seq


def test_a_broken_export_is_refused_saying_why(tmp_path: Path) -> None:
    bad = tmp_path / "pm.json"
    bad.write_text('{\n  "format": "incident-console/postmortem",\n  "title": 3\n}\n')
    result = CliRunner().invoke(cli, ["review", str(bad)])
    assert result.exit_code == 2 and "not a valid postmortem export" in result.output


async def test_a_hostile_export_shows_nothing_raw(tmp_path: Path) -> None:
    export = tmp_path / "pm.json"
    log = example_log(tmp_path)
    CliRunner().invoke(cli, ["export", str(log), "--format", "json", "-o", str(export)])
    record = json.loads(export.read_text())
    for row in record["timeline"]:
        row.update(type="\x1b[2J", at="\x1b]52;c;eA==\x07", offset="\x9b31m", text="\x1b[31mred")
    for block in record["blocks"]:
        block.update(block="\x1b[1m", command="\x07", status="\x1b")
    export.write_text(json.dumps(record, indent=2))
    exported = export_in(open_replay(export))
    assert exported is not None
    app = ExportReviewApp(export, exported)
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("down", "down", "end", "up", "home"):
            await pilot.press(key)
            for widget in app.query(Static):
                assert not RAW.search(str(widget.render())), str(widget.render())[:200]
