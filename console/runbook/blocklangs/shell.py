"""``sh`` and ``bash`` blocks: a command run on each selected node.

``shell`` and ``console`` (what runbooks kept in a wiki write) are aliases of ``sh``. A pasted
terminal prompt (``$ `` at the start of a line, outside here-documents) is stripped when the
runbook is read (``parse.py``), with a lint warning.

Values are quoted for the place they stand (``template.shell_sites``). Without ``expect`` the
command must exit 0; ``exit``, ``stdout``, ``stderr``, ``value`` (stdout as a number) and
``json`` (stdout as JSON) test it.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.runbook.expect import (
    Observation,
    exit_problems,
    json_problems,
    number_in,
    show_number,
    text_problems,
)
from console.runbook.languages import BodyProblem
from console.runbook.model import Block, Expect
from console.runbook.template import render


@dataclass(frozen=True)
class ShellPlan:
    """A rendered shell block: the script each node's shell runs."""

    script: str

    @property
    def command_text(self) -> str:
        """The script itself."""
        return self.script


@dataclass(frozen=True)
class ShellFormat:
    """A shell language (``sh`` or ``bash``)."""

    name: str
    runs_on_nodes: bool = True
    series_as_nodes: bool = False
    action_refusal: str | None = None
    shell_quoted: bool = True
    expect_keys: frozenset[str] = frozenset({"exit", "stdout", "stderr", "value", "json"})

    def body_problems(self, kind: str, body: str) -> list[BodyProblem]:
        """Unquotable variables are reported with the runbook's variables, not here."""
        return []

    def render(self, block: Block, values: dict[str, str]) -> ShellPlan:
        """The command with each value shell-quoted for its place."""
        return ShellPlan(render(block.body, values, shell=True))

    def judge(self, expect: Expect, obs: Observation) -> tuple[list[str], float | None]:
        """Exit status, output texts, stdout as a number and as JSON."""
        reasons = exit_problems(expect.exit, obs)
        reasons += text_problems("stdout", expect.stdout, obs.stdout, obs.truncated)
        reasons += text_problems("stderr", expect.stderr, obs.stderr, obs.truncated)
        value = obs.value
        if expect.value is not None:
            value, why = number_in(obs.stdout)
            if why is None and value is not None and not expect.value.holds(value):
                why = f"value {show_number(value)} does not hold {expect.value.text!r}"
            if why is not None:
                reasons.append(why)
        reasons += json_problems(expect.json_, obs.stdout, "stdout", obs.truncated)
        return reasons, value

    def same_text(self, obs: Observation) -> str:
        """The node's stdout."""
        return obs.stdout


SHELL = ShellFormat("sh")
BASH = ShellFormat("bash")
ALIASES = {"shell": SHELL.name, "console": SHELL.name}
"""Other words for the shell in a fence's info string."""
