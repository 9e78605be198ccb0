"""The etcd consistency runbook against its scenario: it passes when the members agree, and
names the member whose hash differs when one diverges (issue 12 items 2 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from console.cli import cli

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "etcd-consistency.md"
SCENARIO = ROOT / "console" / "data" / "scenarios" / "etcd-consistency.yaml"


def run(scenario: Path, journal: Path, revision: str = "4410221") -> tuple[int, dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(RUNBOOK),
            "--scenario",
            str(scenario),
            "--var",
            f"revision={revision}",
            "--yes",
            "--json",
            "--speed",
            "50",
            "--journal",
            str(journal),
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def blocks(data: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {b["id"]: b for s in data["steps"] for b in s["blocks"]}


def test_the_consistency_runbook_passes_on_its_scenario(tmp_path: Path) -> None:
    code, data = run(SCENARIO, tmp_path)
    assert code == 0, data
    assert {k: b["verdict"] for k, b in blocks(data).items()} == {
        "same-cluster": "pass",
        "revisions": "pass",
        "hashkv-agree": "pass",
        "applied-spread": "pass",
    }
    verified = CliRunner().invoke(cli, ["verify", data["journal"], "--head", data["head"]])
    assert verified.exit_code == 0, verified.output


def test_a_diverging_member_is_named(tmp_path: Path) -> None:
    m3_hash = '"member_id":103,"revision":4410221},"hash":1084519789'
    text = SCENARIO.read_text()
    assert text.count(m3_hash) == 1
    diverged = tmp_path / "diverged.yaml"
    diverged.write_text(text.replace(m3_hash, m3_hash.replace("1084519789", "3971046213")))
    code, data = run(diverged, tmp_path)
    assert code == 1
    hashkv = blocks(data)["hashkv-agree"]
    assert hashkv["verdict"] == "fail"
    reasons = " ".join(n.get("reason") or "" for n in hashkv["nodes"])
    assert "m3" in reasons and "3971046213" in reasons, hashkv["nodes"]


def test_a_revision_no_member_has_reached_is_refused_by_the_members(tmp_path: Path) -> None:
    code, data = run(SCENARIO, tmp_path, revision="9999999")
    assert code == 1
    nodes = blocks(data)["hashkv-agree"]["nodes"]
    assert {n["node"]: n["verdict"] for n in nodes} == {"m1": "fail", "m2": "fail", "m3": "fail"}
    assert all("future revision" in n["stderr"] for n in nodes)
