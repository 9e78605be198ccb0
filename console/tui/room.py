"""The room's screen: the trainee's console served to a browser (``drill --serve``).

textual-serve runs the console command once per browser tab, in its own process, and relays
its screen and keys over a websocket; the page draws it with xterm.js. A room watches the tab
on a projector while the trainee (or the room) types into it. The server listens on
127.0.0.1 unless told otherwise, and has no login: whoever reaches it drives a drill.
"""

from __future__ import annotations

import ipaddress

from textual_serve.server import Server


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1 or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_in_browser(command: str, *, host: str, port: int, title: str) -> None:
    """Serve ``command`` (a shell command line running the console) until Ctrl+C."""
    Server(command, host=host, port=port, title=title).serve()
