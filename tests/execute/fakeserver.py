"""asyncssh's own SSH server, in-process on 127.0.0.1, for fault injection.

It runs each command in a real local ``sh`` (its own process group, like a login shell under
sshd), so the console's wrapper, output and remote kill work as they do against OpenSSH. Faults
are switched on per server: refuse every key, present another host key, or drop the connection
as soon as a command prints a trigger line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import asyncssh

DROP_TRIGGER = b"IC-DROP-CONNECTION"


class FakeSSHServer:
    """One listening asyncssh server and the shells it started."""

    def __init__(
        self,
        host_key: asyncssh.SSHKey,
        client_public_key: bytes | None,
    ) -> None:
        self.host_key = host_key
        self.client_public_key = client_public_key
        self.port = 0
        self.commands: list[str] = []
        self.shells: list[asyncio.subprocess.Process] = []
        self._server: asyncssh.SSHAcceptor | None = None

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1 and return it."""
        authorized = (
            asyncssh.import_authorized_keys(self.client_public_key.decode())
            if self.client_public_key
            else asyncssh.import_authorized_keys("")
        )
        self._server = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=authorized,
            process_factory=self._handle,
            encoding=None,
            allow_pty=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        self.commands.append(command)
        shell = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self.shells.append(shell)
        conn = process.channel.get_connection()

        async def pump(
            reader: asyncio.StreamReader | None, writer: asyncssh.SSHWriter[bytes]
        ) -> None:
            assert reader is not None
            while data := await reader.read(1 << 15):
                if DROP_TRIGGER in data:
                    conn.abort()
                    return
                writer.write(data)
                await writer.drain()

        async def feed() -> None:
            """The channel's stdin to the shell's (the console sends the block there)."""
            assert shell.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionError):
                while data := await process.stdin.read(1 << 15):
                    shell.stdin.write(data)
                    await shell.stdin.drain()
            shell.stdin.close()

        feeding = asyncio.ensure_future(feed())
        try:
            await asyncio.gather(
                pump(shell.stdout, process.stdout), pump(shell.stderr, process.stderr)
            )
            code = await shell.wait()
            if code < 0:
                process.exit_with_signal(signal.Signals(-code).name.removeprefix("SIG"))
            else:
                process.exit(code)
        except (asyncssh.Error, BrokenPipeError, ConnectionError):
            pass
        finally:
            feeding.cancel()

    async def close(self) -> None:
        """Stop listening and end every shell this server started (by process group)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for shell in self.shells:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await shell.wait()


class SilentListener:
    """A TCP port that accepts connections and never says a word (no SSH banner)."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1 and return it."""

        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)

        self._server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and drop the held connections."""
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
