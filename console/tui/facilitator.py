"""The facilitator's console: a second screen on a running drill, in another terminal.

It attaches to the trainee's drill through its control channel (``drill/control.py``) and shows
what the trainee must not see: the scenario's hidden ``truth``, the injects still to come with
their drill times, and the hand injects it can fire. The trainee's actions arrive as they are
journalled. Keys pause and resume the drill clock, change its speed, skip to the next inject
and fire a hand inject; the trainee's engine applies each one and journals it. Quitting
detaches: the drill goes on.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Label, ListItem, ListView, RichLog, Static

from console.drill.control import ControlClient, ControlError
from console.sanitize import visible
from console.tui.messages import while_running


def _one_line(value: object) -> str:
    return visible(str(value), one_line=True)


def _drill_time(seconds: float) -> str:
    whole = int(seconds)
    return f"T+{whole // 60:d}:{whole % 60:02d}"


class FacilitatorApp(App[str]):
    """The facilitator's screen on one drill, through ``client``."""

    TITLE = "incident-console"
    DEFAULT_CSS = """
    #brief { width: 1fr; border: round $primary; padding: 0 1; }
    #truth { height: auto; margin-bottom: 1; }
    #upcoming { height: auto; margin-bottom: 1; }
    #hand { height: auto; max-height: 12; }
    #actions { width: 1fr; border: round $secondary; }
    #clock { height: 1; background: $boost; }
    .heading { text-style: bold; color: $accent; }
    """
    BINDINGS = [
        Binding("p", "pause", "Pause/resume", id="facilitator-pause"),
        Binding("plus", "speed(2.0)", "Faster", id="facilitator-faster"),
        Binding("minus", "speed(0.5)", "Slower", id="facilitator-slower"),
        Binding("k", "skip", "Next inject now", id="facilitator-skip"),
        Binding("f", "fire", "Fire hand inject", id="facilitator-fire"),
        Binding("q", "detach", "Detach", id="facilitator-quit"),
    ]

    def __init__(self, client: ControlClient) -> None:
        super().__init__()
        self.client = client
        self.hello: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.attached = True

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal():
            with VerticalScroll(id="brief"):
                yield Label("The truth (the trainee never sees it)", classes="heading")
                yield Static(id="truth")
                yield Label("Upcoming injects", classes="heading")
                yield Static(id="upcoming")
                yield Label("Hand injects (f fires the highlighted one)", classes="heading")
                yield ListView(id="hand")
            with Vertical(id="actions-box"):
                yield RichLog(id="actions", wrap=True, markup=False, max_lines=2000)
        yield Static(id="clock")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "FACILITATOR"
        self.query_one("#actions", RichLog).border_title = "The trainee's actions"
        self.run_worker(self._listen(), name="drill channel", exclusive=True)

    async def _listen(self) -> None:
        try:
            async for message in self.client.messages():
                self._show(message)
        except ControlError as exc:
            self.notify(_one_line(exc), title="drill channel", severity="error", markup=False)
        self.attached = False
        self.notify("the drill has ended (or stopped serving)", title="detached", timeout=30)
        self._show_clock()

    @while_running
    def _show(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "hello":
            self._show_hello(message)
        elif kind == "state":
            self.state = message
            self._show_upcoming()
            self._show_clock()
        elif kind == "event":
            line = Text()
            line.append(_one_line(message.get("ts", ""))[11:19] + " ", style="dim")
            line.append(_one_line(message.get("line", "")))
            self.query_one("#actions", RichLog).write(line)
        elif kind == "reply":
            said = _one_line(message.get("message", ""))
            ok = bool(message.get("ok"))
            self.notify(said, severity="information" if ok else "error", markup=False)

    def _show_hello(self, hello: dict[str, Any]) -> None:
        self.hello = hello
        self.title = f"FACILITATOR · {_one_line(hello.get('title', ''))}"
        self.sub_title = _one_line(hello.get("drill", ""))
        truth = visible(str(hello.get("truth") or "(the scenario has no truth: section)"))
        description = visible(str(hello.get("description") or ""))
        self.query_one("#truth", Static).update(
            Text(f"{truth}\n\n{description}".strip()), layout=True
        )
        hand = self.query_one("#hand", ListView)
        hand.clear()
        for inject in hello.get("hand_injects") or []:
            name = _one_line(inject.get("name", ""))
            label = f"{name}: {_one_line(inject.get('say', ''))}"
            hand.append(ListItem(Label(label, markup=False), name=name))
        if not hello.get("hand_injects"):
            hand.append(ListItem(Label("(the scenario has no hand_injects)")))
        hand.index = 0
        hand.focus()  # arrows choose the inject to fire

    def _show_upcoming(self) -> None:
        lines = Text()
        for inject in self.state.get("upcoming") or []:
            lines.append(f"{_drill_time(float(inject.get('at', 0)))}  ", style="bold")
            lines.append(_one_line(inject.get("say") or "(changes the cluster silently)") + "\n")
        self.query_one("#upcoming", Static).update(lines or Text("(none left)"))

    def _show_clock(self) -> None:
        text = Text()
        if not self.attached:
            text.append(" DETACHED: the drill is no longer running ", style="reverse")
        elif self.state:
            paused = "  PAUSED" if self.state.get("paused") else ""
            at = _drill_time(float(self.state.get("at", 0)))
            text.append(f" drill {at}  speed {float(self.state.get('speed', 1)):g}x{paused}")
        log = self.hello.get("log")
        if log:
            text.append(f"  · log {_one_line(log)}", style="dim")
        self.query_one("#clock", Static).update(text)

    async def _send(self, cmd: str, **fields: Any) -> None:
        if not self.attached:
            self.notify("not attached to a drill", severity="warning")
            return
        try:
            await self.client.send(cmd, **fields)
        except (ConnectionError, ControlError) as exc:
            self.notify(_one_line(exc), title="drill channel", severity="error", markup=False)

    async def action_pause(self) -> None:
        await self._send("resume" if self.state.get("paused") else "pause")

    async def action_speed(self, factor: float) -> None:
        await self._send("speed", value=float(self.state.get("speed", 1.0)) * factor)

    async def action_skip(self) -> None:
        await self._send("skip")

    async def action_fire(self) -> None:
        item = self.query_one("#hand", ListView).highlighted_child
        if item is None or not item.name:
            self.notify("no hand inject is highlighted", severity="warning")
            return
        await self._send("inject", name=item.name)

    async def on_list_view_selected(self, event: ListView.Selected) -> None:
        if event.list_view.id == "hand":
            await self.action_fire()

    async def action_detach(self) -> None:
        await self.client.close()
        self.exit("detached; the drill goes on")


async def run_facilitator(client: ControlClient) -> str | None:
    """Run the facilitator's screen until it detaches or the drill ends; the farewell line."""
    return await FacilitatorApp(client).run_async()
