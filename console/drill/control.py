"""The facilitator's channel to a running drill: a Unix socket only its owner can reach.

The trainee's console serves it (``ControlServer``) while a drill runs; ``incident-console drill
--facilitator`` finds it (``find_drills``) and attaches (``ControlClient``). There is one
simulator, the trainee's: the facilitator sees what it holds and sends commands that its
engine applies and journals, so the log says who did what to the drill.

The socket is ``drill-<pid>-<n>.sock`` in ``<user runtime dir>/incident-console/drills``, a folder
of mode 0700 that the console refuses to use if anyone else owns it or can enter it; the socket
itself is 0600 and a peer of another uid is turned away (``SO_PEERCRED``). Messages are JSON
objects, one per line, each at most ``MAX_LINE`` bytes; a longer one ends the connection.

Drill to facilitator: ``hello`` (drill id, title, scenario file, log, description, the hidden
``truth``, the hand injects' names and words), ``state`` (drill time, speed, paused, the
upcoming injects), ``event`` (each journalled event as its one-line meaning, redacted),
``reply`` (``ok`` and a message, after each command). Facilitator to drill: ``{"cmd": "pause"}``,
``resume``, ``skip``, ``{"cmd": "speed", "value": 4}``, ``{"cmd": "inject", "name": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import stat
import struct
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from console.config import APP_NAME
from console.drill.engine import DrillEngine
from console.drill.scenario import Scenario
from console.errors import ConsoleError
from console.incident import QUIET_TYPES, Incident
from console.journal.events import Event
from console.report.timeline import describe

MAX_LINE = 64 * 1024
"""The longest message either side accepts, in bytes (the newline included)."""
MAX_TEXT = 8 * 1024
"""Any one text field (truth, an inject's words, an event's line) is cut to this many chars."""
STATE_EVERY_S = 1.0
"""How often the drill tells an attached facilitator its clock (and after every command)."""
MAX_BACKLOG = 10_000
"""Messages waiting for one facilitator before the drill stops waiting for it (hangs up)."""
SPEED_RANGE = (0.25, 64.0)
_SERVED = itertools.count(1)  # drills served by this process (tests run several)


class ControlError(ConsoleError):
    """The control channel cannot be used (unsafe folder, no such drill, a broken message)."""


def drills_dir(*, create: bool = False) -> Path:
    """Where running drills put their sockets; refused unless only this user can enter it."""
    with warnings.catch_warnings():  # platformdirs warns when it falls back; we check anyway
        warnings.simplefilter("ignore")
        base = Path(platformdirs.user_runtime_dir(APP_NAME))
    folder = base / "drills"
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return folder
    if not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"{folder} is not a folder; the drill channel will not use it")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ControlError(
            f"{folder} is owned by someone else or open to other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); the drill channel needs it 0700 and yours"
        )
    return folder


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line; raises ``ControlError`` if it would be too long."""
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    if len(data) > MAX_LINE:
        raise ControlError(f"a {message.get('type') or message.get('cmd')} message is too long")
    return data


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at the end; ``ControlError`` for a long or broken one."""
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError) as exc:
        raise ControlError(f"a message longer than {MAX_LINE} bytes") from exc
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ControlError(f"a message that is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ControlError("a message that is not a JSON object")
    return message


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class ControlServer:
    """Serves one drill's channel while the trainee's console runs it."""

    def __init__(self, engine: DrillEngine, scenario: Scenario, incident: Incident) -> None:
        self.engine = engine
        self.scenario = scenario
        self.incident = incident
        self.path: Path | None = None
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Queue[dict[str, Any] | None], asyncio.StreamWriter] = {}
        self._unsubscribe: Callable[[], None] = lambda: None

    async def start(self) -> Path:
        """Open the socket (``ControlError``/``OSError`` if it cannot be); returns its path."""
        path = drills_dir(create=True) / f"drill-{os.getpid()}-{next(_SERVED)}.sock"
        path.unlink(missing_ok=True)  # a stale one of a crashed drill with this pid
        self._server = await asyncio.start_unix_server(self._serve, path=path, limit=MAX_LINE)
        path.chmod(0o600)
        self.path = path
        self._unsubscribe = self.incident.sink.subscribe(self._on_event)
        return path

    async def run(self) -> None:
        """Serve until cancelled, then close (the console runs this as an engine)."""
        try:
            if self._server is None:
                await self.start()
            await asyncio.Future()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening, drop the facilitators, remove the socket."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        for queue, writer in self._clients.items():
            queue.put_nowait(None)
            writer.close()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    # -- what the facilitator is told --------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        """Who this drill is and what only the facilitator may know."""
        text = self.incident.redactor.text
        log = self.incident.path
        return {
            "type": "hello",
            "drill": self.incident.incident_id,
            "pid": os.getpid(),
            "title": _cut(text(self.scenario.title)),
            "scenario": str(Path(self.scenario.file).resolve()) if self.scenario.file else "",
            "log": str(log.resolve()) if log else None,
            "description": _cut(text(self.scenario.description)),
            "truth": _cut(text(self.scenario.truth)),
            "hand_injects": [
                {"name": h.name, "say": _cut(text(h.say))} for h in self.scenario.hand_injects
            ],
        }

    def state(self) -> dict[str, Any]:
        """The drill clock and what is still to come."""
        clock = self.engine.clock
        text = self.incident.redactor.text
        return {
            "type": "state",
            "at": round(self.engine.simulator.now(), 3),
            "speed": clock.speed,
            "paused": clock.paused,
            "upcoming": [
                {"at": i.at, "say": _cut(text(i.say))} for i in self.engine.simulator.upcoming()
            ],
        }

    def event(self, event: Event) -> dict[str, Any]:
        """One journalled event as the trainee's timeline shows it."""
        line = _cut(self.incident.redactor.text(describe(event)))
        return {"type": "event", "ts": event.ts, "event": event.type, "line": line}

    def _on_event(self, event: Event) -> None:
        if event.type in QUIET_TYPES:
            return
        for queue in list(self._clients):
            self._offer(queue, self.event(event))

    def _offer(self, queue: asyncio.Queue[dict[str, Any] | None], message: dict[str, Any]) -> None:
        """Queue ``message`` for one facilitator; one that stopped reading is hung up on."""
        if queue.qsize() < MAX_BACKLOG:
            queue.put_nowait(message)
            return
        writer = self._clients.pop(queue, None)
        if writer is not None:
            writer.close()

    # -- one facilitator ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = _peer_uid(writer)
        if uid is not None and uid != os.getuid():
            writer.close()
            return
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        queue.put_nowait(self.hello())
        for event in list(self.incident.sink.timeline):
            queue.put_nowait(self.event(event))
        queue.put_nowait(self.state())
        self._clients[queue] = writer
        sender = asyncio.get_running_loop().create_task(self._send(queue, writer))
        ticker = asyncio.get_running_loop().create_task(self._tick(queue))
        try:
            while (message := await read_message(reader)) is not None:
                queue.put_nowait(await self.command(message))
                queue.put_nowait(self.state())
        except (ControlError, ConnectionError):
            pass  # a broken facilitator is dropped; the drill goes on
        finally:
            self._clients.pop(queue, None)
            ticker.cancel()
            queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
            writer.close()

    async def _tick(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        while True:
            await asyncio.sleep(STATE_EVERY_S)
            self._offer(queue, self.state())

    async def _send(
        self, queue: asyncio.Queue[dict[str, Any] | None], writer: asyncio.StreamWriter
    ) -> None:
        while (message := await queue.get()) is not None:
            writer.write(encode(message))
            await writer.drain()

    async def command(self, message: dict[str, Any]) -> dict[str, Any]:
        """Apply one facilitator command through the engine (which journals it)."""
        cmd = message.get("cmd")
        try:
            if cmd in ("pause", "resume", "skip"):
                await self.engine.control(str(cmd))
                said = str(cmd)
            elif cmd == "speed":
                value = message.get("value")
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError("speed needs a number")
                speed = min(max(float(value), SPEED_RANGE[0]), SPEED_RANGE[1])
                await self.engine.control(f"speed={speed:g}")
                said = f"speed {speed:g}x"
            elif cmd == "inject":
                name = message.get("name")
                hand = next((h for h in self.scenario.hand_injects if h.name == name), None)
                if hand is None:
                    raise ValueError(f"the scenario has no hand inject named {name!r}")
                await self.engine.inject(hand, hand.say or hand.name)
                said = f"fired {hand.name}"
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except (ValueError, ConsoleError) as exc:  # a bad command, or a journal that refused it
            return {"type": "reply", "ok": False, "message": _cut(str(exc))}
        return {"type": "reply", "ok": True, "message": said}


@dataclass(frozen=True)
class DrillEndpoint:
    """A running drill found in the runtime folder, with what its hello said."""

    path: Path
    hello: dict[str, Any]

    @property
    def drill(self) -> str:
        """The drill's id (its incident id)."""
        return str(self.hello.get("drill", ""))

    def matches(self, scenario: Path | None, drill: str | None) -> bool:
        """Whether this is the drill asked for: by id, pid or log path, else by scenario."""
        if drill:
            log = self.hello.get("log")
            as_path = str(Path(drill).resolve())
            return drill in (self.drill, str(self.hello.get("pid"))) or as_path == log
        if scenario is not None:
            return str(scenario.resolve()) == self.hello.get("scenario")
        return True


async def _hello(path: Path) -> dict[str, Any] | None:
    """The hello of the drill at ``path``, or None if nothing answers there."""
    try:
        async with asyncio.timeout(2.0):
            reader, writer = await asyncio.open_unix_connection(path, limit=MAX_LINE)
            try:
                message = await read_message(reader)
            finally:
                writer.close()
    except (OSError, TimeoutError, ControlError):
        return None
    return message if message and message.get("type") == "hello" else None


async def find_drills(
    scenario: Path | None = None, drill: str | None = None
) -> list[DrillEndpoint]:
    """The running drills this user can attach to that match ``scenario`` or ``drill``."""
    folder = drills_dir()
    if not folder.is_dir():
        return []
    found: list[DrillEndpoint] = []
    for path in sorted(folder.glob("drill-*.sock")):
        hello = await _hello(path)
        if hello is not None:
            endpoint = DrillEndpoint(path, hello)
            if endpoint.matches(scenario, drill):
                found.append(endpoint)
    return found


class ControlClient:
    """The facilitator's end of the channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, path: Path) -> ControlClient:
        """Attach to the drill serving ``path``; ``ControlError`` if it does not answer."""
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=MAX_LINE)
        except OSError as exc:
            raise ControlError(f"cannot attach to the drill at {path}: {exc.strerror}") from exc
        return cls(reader, writer)

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """What the drill says, until it ends (``ControlError`` for a broken message)."""
        while (message := await read_message(self._reader)) is not None:
            yield message

    async def send(self, cmd: str, **fields: Any) -> None:
        """Send one command; the drill answers with a ``reply`` message."""
        self._writer.write(encode({"cmd": cmd, **fields}))
        await self._writer.drain()

    async def close(self) -> None:
        """Detach (the drill goes on)."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
