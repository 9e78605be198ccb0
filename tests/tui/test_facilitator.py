"""The facilitator's console attached to a running drill, both driven as people would."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from console.config import Config, LoadedConfig
from console.drill.control import ControlClient, find_drills
from console.journal.reader import read_log
from console.tui.app import ConsoleApp
from console.tui.facilitator import FacilitatorApp
from console.workspace import BUNDLED_SCENARIO, drill_workspace
from tests.tui.test_console import until


def text_of(widget: Static) -> str:
    return str(widget.render())


async def test_facilitator_sees_what_comes_and_fires_a_hand_inject(
    tmp_path: Path, runtime_dir: Path
) -> None:
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    # Slow enough that the pager (T+5s) would take 50 real seconds unless skipped to.
    ws = await drill_workspace(loaded, None, speed=0.1, journal=tmp_path)
    state = ws.incident.state
    trainee = ConsoleApp(ws)
    async with trainee.run_test(size=(160, 48)) as trainee_pilot:
        drills = []
        for _ in range(100):
            drills = await find_drills(BUNDLED_SCENARIO)
            if drills:
                break
            await trainee_pilot.pause(0.05)
        assert [d.drill for d in drills] == [state.incident]
        socket = drills[0].path
        assert socket.stat().st_mode & 0o777 == 0o600
        assert socket.parent.stat().st_mode & 0o777 == 0o700

        facilitator = FacilitatorApp(await ControlClient.connect(socket))
        async with facilitator.run_test(size=(160, 48)) as pilot:
            upcoming = facilitator.query_one("#upcoming", Static)
            await until(pilot, lambda: "The pager goes off" in text_of(upcoming))
            assert text_of(upcoming).startswith("T+0:05")
            truth = text_of(facilitator.query_one("#truth", Static))
            assert "systemd hit its start" in truth
            assert not state.firing

            await pilot.press("k")  # the next inject, now
            await until(trainee_pilot, lambda: bool(state.firing), timeout=5)
            await until(pilot, lambda: "The pager goes off" not in text_of(upcoming))

            await pilot.press("p")  # pause the drill clock
            await until(pilot, lambda: ws.drill is not None and ws.drill.clock.paused)

            await pilot.press("down", "up", "f")  # the first hand inject: m3's disks
            panels = trainee.query_one("#panels", Static)
            await until(
                trainee_pilot, lambda: "EtcdHighFsyncDurations" in text_of(panels), timeout=10
            )
            actions = facilitator.query_one("#actions")
            await until(
                pilot, lambda: any("m3 now shows disk latency" in str(s) for s in actions.lines)
            )
            # The trainee's screen shows the inject's words, never the truth.
            assert "systemd hit its start" not in trainee.export_screenshot()

            await trainee_pilot.press("q")  # the trainee quits: the facilitator is told
            await until(pilot, lambda: not facilitator.attached)
            assert "DETACHED" in text_of(facilitator.query_one("#clock", Static))
            await pilot.press("q")

    assert ws.incident.path is not None
    events = read_log(ws.incident.path).events
    said = [e.data.description for e in events if e.type == "drill.inject"]
    assert said[:4] == [
        "facilitator: skip to T+5s",
        "The pager goes off: etcdMembersDown (critical) for m2. You are on call.",
        "facilitator: pause",
        "facilitator: m3 now shows disk latency warnings: losing it would lose quorum.",
    ]
    assert not socket.exists()  # the channel closed with the console
