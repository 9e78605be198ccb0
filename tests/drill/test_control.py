"""The drill's control channel: who may attach, what it refuses, what the engine journals."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import cli
from console.config import Config, LoadedConfig
from console.drill import control
from console.drill.control import (
    MAX_LINE,
    ControlClient,
    ControlError,
    ControlServer,
    drills_dir,
    find_drills,
)
from console.journal.events import Note
from console.workspace import Workspace, drill_workspace


@pytest.fixture
async def drill(tmp_path: Path, runtime_dir: Path) -> AsyncIterator[tuple[Workspace, Path]]:
    """The bundled drill (clock paused) serving its channel; the socket's path."""
    loaded = LoadedConfig(config=Config(runbooks=[], checks=[]), path=None, sha256=None)
    ws = await drill_workspace(loaded, None, speed=1, journal=tmp_path)
    assert ws.drill is not None and ws.scenario is not None
    ws.drill.clock.pause()
    server = ControlServer(ws.drill, ws.scenario, ws.incident)
    path = await server.start()
    yield ws, path
    await server.close()
    await ws.incident.close("test over")


async def next_of(client: ControlClient, kind: str) -> dict[str, object]:
    async with asyncio.timeout(5):
        async for message in client.messages():
            if message.get("type") == kind:
                return message
    raise AssertionError(f"the channel ended before a {kind} message")


async def test_bad_commands_are_answered_and_the_drill_goes_on(
    drill: tuple[Workspace, Path],
) -> None:
    ws, path = drill
    client = await ControlClient.connect(path)
    hello = await next_of(client, "hello")
    assert hello["drill"] == ws.incident.incident_id
    assert [h["name"] for h in hello["hand_injects"]] == ["m3-disk-latency", "manager-asks"]

    await client.send("inject", name="no-such")
    reply = await next_of(client, "reply")
    assert reply == {
        "type": "reply",
        "ok": False,
        "message": "the scenario has no hand inject named 'no-such'",
    }
    await client.send("speed", value="fast")
    assert (await next_of(client, "reply"))["message"] == "speed needs a number"
    await client.send("speed", value=1000)  # held to the console's range
    assert (await next_of(client, "reply"))["message"] == "speed 64x"
    assert ws.drill is not None and ws.drill.clock.speed == 64

    for _ in ws.drill.simulator.upcoming():
        await client.send("skip")
        assert (await next_of(client, "reply"))["ok"] is True
    await client.send("skip")
    assert (await next_of(client, "reply"))["message"] == "no inject is left on the timeline"
    await client.close()


async def test_an_oversized_message_drops_only_that_facilitator(
    drill: tuple[Workspace, Path],
) -> None:
    ws, path = drill
    rogue = await ControlClient.connect(path)
    other = await ControlClient.connect(path)
    await next_of(rogue, "hello")
    await next_of(other, "hello")
    rogue._writer.write(b"{" + b" " * MAX_LINE + b"}\n")
    await rogue._writer.drain()
    async with asyncio.timeout(5):
        async for _message in rogue.messages():
            pass  # the drill hangs up on it
    await other.send("pause")
    assert (await next_of(other, "reply"))["ok"] is True
    assert ws.drill is not None and ws.drill.clock.paused
    await other.close()


async def test_only_the_owner_may_attach(drill: tuple[Workspace, Path]) -> None:
    ws, path = drill
    assert os.getuid() == 0, "this test runs a client as another user: run it as root (tests/run)"
    # Open the folder and socket to everyone (as a mistake would): the peer check still holds.
    path.parent.chmod(0o755)
    path.parent.parent.chmod(0o755)
    path.parent.parent.parent.chmod(0o755)
    path.chmod(0o666)
    readable, writable = os.pipe()
    child = os.fork()
    if child == 0:  # the other user: connect, and report what the drill said
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                os.write(writable, b"said:" + sock.recv(100))
        except BaseException as exc:
            os.write(writable, f"error: {exc}".encode())
        finally:
            os._exit(0)
    os.close(writable)
    said = await asyncio.to_thread(os.read, readable, 200)
    os.close(readable)
    await asyncio.to_thread(os.waitpid, child, 0)
    assert said == b"said:"  # it connected, and was hung up on without a word
    assert ws.drill is not None


def test_a_folder_others_can_enter_is_refused(runtime_dir: Path) -> None:
    folder = drills_dir(create=True)
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o755)
    with pytest.raises(ControlError, match="open to other users"):
        drills_dir()
    with pytest.raises(ControlError, match="open to other users"):
        asyncio.run(find_drills())


def test_facilitator_with_no_drill_running_says_so(runtime_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["drill", "--facilitator"])
    assert result.exit_code == 2
    assert "no running drill of any scenario" in result.output


async def test_a_facilitator_that_stops_reading_is_hung_up_on(
    drill: tuple[Workspace, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, path = drill
    client = await ControlClient.connect(path)
    await next_of(client, "state")  # everything it was sent on attaching
    monkeypatch.setattr(control, "MAX_BACKLOG", 0)  # as if 10,000 messages were waiting
    await ws.incident.sink.emit(Note(text="one more thing"))
    async with asyncio.timeout(5):
        left = [m async for m in client.messages()]
    assert left == []  # hung up on, not sent the note
    await client.close()
