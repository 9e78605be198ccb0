"""The room's screen: ``drill --serve`` in real headless Chromium, driven over DevTools.

The page draws the console on a canvas (xterm.js), so the test taps the bytes the page's
websocket receives (what xterm draws) and reads the screen's text from them; keys are typed
through Chromium's input pipeline into the page, and must reach the drill's journal.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console.journal.reader import read_log
from tests.servers import binary, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1600,1000",
]
# Installed before the page's own scripts: keep every binary frame the console sends.
TAP = """
(() => {
  const Real = window.WebSocket;
  const frames = [];
  function Tapped(url, protocols) {
    const ws = new Real(url, protocols);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") frames.push(new Uint8Array(e.data));
    });
    return ws;
  }
  Tapped.prototype = Real.prototype;
  Object.assign(Tapped, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Tapped;
  window.__screenBytes = () => {
    const decoder = new TextDecoder();
    return frames.map((f) => decoder.decode(f, {stream: true})).join("");
  };
})();
"""
# Escape sequences (CSI, OSC, charset and keypad selections): what is left is the drawn text.
ANSI = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def served(tmp_path: Path, runtime_dir: Path) -> Iterator[tuple[int, Path]]:
    """``incident-console drill --serve`` on a free loopback port; its journal folder."""
    port = free_port()
    logs = tmp_path / "logs"
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_RUNTIME_DIR": str(runtime_dir)}
    argv = [sys.executable, "-m", "console", "drill", "--serve", "--port", str(port)]
    argv += ["--journal", str(logs), "--speed", "1"]
    out = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until(lambda: _port_open(port) or proc.poll() is not None, 30, "drill --serve")
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        yield port, logs
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the drill it started for the tab
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[int]:
    """Headless Chromium with its DevTools port (Debian ``chromium``)."""
    path = binary("chromium", "chromium")
    profile = tmp_path / "chromium-profile"
    argv = [path, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    active = profile / "DevToolsActivePort"
    try:
        wait_until(lambda: active.exists() and active.read_text().strip() != "", 30, "chromium")
        yield int(active.read_text().split()[0])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class DevTools:
    """One page, driven over the DevTools protocol's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = json.loads((await self.ws.receive(timeout=30)).data)
            if message.get("id") == ident:
                assert "error" not in message, message
                return dict(message.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def screen_text(self) -> str:
        return ANSI.sub("", await self.evaluate("window.__screenBytes()") or "")

    async def key(self, key: str, code: str, vk: int, text: str) -> None:
        down = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "text": text}
        await self.call("Input.dispatchKeyEvent", type="keyDown", **down)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=code)

    async def type(self, text: str) -> None:
        for char in text:
            if char == " ":
                await self.key(" ", "Space", 32, " ")
            else:
                await self.key(char, f"Key{char.upper()}", ord(char.upper()), char)


async def eventually(check: Any, what: str, timeout: float = 60.0) -> Any:
    """Await ``check()`` until it returns something true; fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def notes(logs: Path) -> list[str]:
    """The notes in the served drill's journal so far."""
    return [
        str(e.data.text)
        for log in logs.glob("*.jsonl")
        for e in read_log(log).events
        if e.type == "note"
    ]


@pytest.mark.timeout(300)  # a browser and a console on two shared cores
async def test_the_drill_served_to_a_real_browser(
    served: tuple[int, Path], chromium: int, tmp_path: Path
) -> None:
    port, logs = served
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{chromium}/json") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.call("Page.addScriptToEvaluateOnNewDocument", source=TAP)
            await tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/")

            async def drawn() -> str | None:
                text = await tools.screen_text()
                shown = all(w in text for w in ("DRILL", "etcd quorum", "Firing alerts"))
                return text if shown else None

            text = await eventually(drawn, "the console drawn in the page")
            assert "drill: etcd member m2 down after an OOM kill" in text
            shown = "document.body.classList.contains('-first-byte')"
            assert await tools.evaluate(shown) is True  # the page shows the terminal

            await tools.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
            await tools.type("n")  # a note, typed into the page

            async def asked() -> bool:
                return "Note for the incident log" in await tools.screen_text()

            await eventually(asked, "the note dialog in the page")
            await tools.type("the room is watching")
            await tools.key("Enter", "Enter", 13, "\r")

            async def journalled() -> bool:
                return "the room is watching" in notes(logs)

            await eventually(journalled, "the note typed in the page to reach the journal")
            shot = await tools.call("Page.captureScreenshot", format="png")
            (tmp_path / "room.png").write_bytes(base64.b64decode(shot["data"]))
