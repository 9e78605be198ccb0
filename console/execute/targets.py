"""Where a node's commands go: the ``TargetProvider`` interface and the live implementation.

The live provider runs ``local`` on this machine and every inventory node over pooled SSH. The
drill simulator provides its own targets through the same interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from console.config import Config, Node
from console.execute.local import LOCAL_NODE, LocalTarget
from console.execute.target import Target
from console.secret_values import secret_env_names

if TYPE_CHECKING:
    from console.execute.ssh import SSHPool

LOCAL = Node(name=LOCAL_NODE, host="localhost")
"""The console's own machine, as the node ``on: local`` selects."""


class TargetProvider(Protocol):
    """Hands out a target per node and cleans up after the session."""

    def target(self, node: Node) -> Target:
        """The target that runs commands on ``node``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class LiveTargets:
    """``local`` runs here; every other node over SSH (the pool is created on first use)."""

    def __init__(self, config: Config, *, risk_accepted: bool = False) -> None:
        self._config = config
        self._risk_accepted = risk_accepted
        self._local = LocalTarget(hidden_env=secret_env_names(config))
        self._pool: SSHPool | None = None

    @property
    def pool(self) -> SSHPool:
        """The SSH connection pool (its ``stats`` count connections and commands)."""
        if self._pool is None:
            from console.execute.ssh import SSHPool

            self._pool = SSHPool(
                self._config.ssh,
                self._config.nodes,
                profile=self._config.profile,
                risk_accepted=self._risk_accepted,
            )
        return self._pool

    def target(self, node: Node) -> Target:
        """The local target for ``local``, else the node's SSH target."""
        if node.name == LOCAL_NODE:
            return self._local
        return self.pool.target(node)

    async def close(self) -> None:
        """Close the pooled SSH connections."""
        if self._pool is not None:
            await self._pool.close()
