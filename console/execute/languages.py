"""The block-language registry, execute half: how a language that runs from the console runs.

Languages that run on nodes (``sh``, ``bash``: ``BlockFormat.runs_on_nodes``) need nothing here:
each node's plan's ``command_text`` is started on its target with ``shell=`` the language. A
language that runs once from the console (``promql``, ``http``) registers a ``BlockExecution``
under the name of its format half (``console.runbook.languages``). It receives the typed plan
its format half rendered (``PromQLPlan``, ``HttpRequest``), never text to parse, and the runner
runs it on the one path every block takes: started, output, judged, finished.

Adding a language is one module with both halves and one ``register_language(format, run)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from console.execute.target import Stream
from console.runbook.expect import Observation, Outcome
from console.runbook.languages import (
    BlockFormat,
    RenderedBlock,
    register_format,
    unregister_format,
)
from console.runbook.model import Block

if TYPE_CHECKING:
    from console.config import Config
    from console.execute.promql import PromQLSource

OutputSink = Callable[[Stream, bytes], Awaitable[None]]
"""Where a running block hands its output as it arrives (streamed as ``block.output``)."""


@dataclass(frozen=True)
class RunContext:
    """What a console-run language may use: the config and the session's Prometheus source."""

    config: Config
    promql: PromQLSource | None = None


@dataclass(frozen=True)
class Produced:
    """What running a block produced for one node, before it is judged.

    ``observation`` is judged when ``outcome`` is ``completed``; the runner fills its
    ``stdout``/``stderr`` from the output handed to the ``OutputSink``. ``note`` goes before the
    judgement's reasons (``HTTP 200 OK``).
    """

    node: str
    outcome: Outcome = "completed"
    reason: str = ""
    observation: Observation | None = None
    note: str = ""


PlanT = TypeVar("PlanT", bound=RenderedBlock, contravariant=True)


class BlockExecution(Protocol[PlanT]):
    """The execute half of a language that runs once, from the console.

    ``PlanT`` is the plan its format half's ``render`` returns; the two are paired by name.
    """

    @property
    def name(self) -> str:
        """The language's name, as its format half registers it."""
        ...

    def timeout(self, block: Block, context: RunContext) -> float:
        """The block's timeout; raise ``SourceError`` when the config cannot run it."""
        ...

    def node(self, block: Block, plan: PlanT) -> str:
        """The name its result is reported under (the URL's host, ``prometheus``)."""
        ...

    async def run(
        self, block: Block, plan: PlanT, timeout: float, context: RunContext, output: OutputSink
    ) -> list[Produced]:
        """Run it once. ``TargetError``, ``ConnectionLost`` and other exceptions become the
        node's ``error`` or ``indeterminate`` verdict; a timeout should be returned as one."""
        ...


_EXECUTIONS: dict[str, BlockExecution[Any]] = {}
_builtins_loaded = False


def register_language(language: BlockFormat, execution: BlockExecution[Any] | None = None) -> None:
    """Register both halves of a language; ``execution`` is needed unless it runs on nodes."""
    if execution is None and not language.runs_on_nodes:
        raise ValueError(f"language {language.name!r} runs from the console: give its execution")
    register_format(language)
    if execution is not None:
        _load_builtins()
        _EXECUTIONS[language.name] = execution


def unregister_language(name: str) -> None:
    """Forget both halves of a language (for tests that register a throw-away one)."""
    unregister_format(name)
    _EXECUTIONS.pop(name, None)


def block_execution(name: str) -> BlockExecution[Any]:
    """The execute half of the console-run language ``name``; ``KeyError`` when none."""
    _load_builtins()
    return _EXECUTIONS[name]


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from console.execute import http, promql

    for execution in (promql.PROMQL_RUN, http.HTTP_RUN):
        _EXECUTIONS.setdefault(execution.name, execution)
