"""``label:`` in ``vars:``: a variable read from the firing alert's label, and its problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.runbook.match import values_from_alerts
from console.runbook.parse import parse_runbook


def book(spec: str, alerts: str = "[EtcdMemberDown]") -> str:
    return (
        f"---\nid: member\nalerts: {alerts}\nvars:\n  member:\n{spec}---\n# Member\n\n"
        "## 1. Look\n\n```sh check\n#| on: local\necho {{member}}\n```\n"
    )


@dataclass
class FakeAlert:
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)


def test_label_names_the_alert_label_and_problems_name_file_line_and_key() -> None:
    runbook, problems = parse_runbook(book("    label: instance\n"), "rb.md")
    assert not problems and runbook is not None
    assert runbook.meta.vars["member"].label == "instance"

    _, problems = parse_runbook(book("    lable: instance\n"), "rb.md")
    assert [str(p) for p in problems] == ["rb.md:6: unknown key [vars.member.lable]"]

    _, problems = parse_runbook(book("    label: team-name\n"), "rb.md")
    assert [(p.line, p.key) for p in problems] == [(6, "vars.member.label")]
    assert "'team-name' is not an alert label name" in problems.items[0].message

    _, problems = parse_runbook(book("    label: instance\n    default: m1\n"), "rb.md")
    assert [(p.line, p.key) for p in problems] == [(5, "vars.member")]
    assert "never asked" in problems.items[0].message


def test_values_come_only_from_alerts_the_runbook_answers() -> None:
    runbook, _ = parse_runbook(book("    label: instance\n    pattern: '^m[0-9]+$'\n"), "rb.md")
    assert runbook is not None
    other = FakeAlert("DiskFull", {"instance": "db1"})
    page = FakeAlert("EtcdMemberDown", {"instance": "m2"})
    no_label = FakeAlert("EtcdMemberDown", {"job": "etcd"})
    assert values_from_alerts(runbook, [other]) == {}
    filled = values_from_alerts(runbook, [other, no_label, page])["member"]
    assert (filled.value, filled.alertname, filled.label) == ("m2", "EtcdMemberDown", "instance")
    assert str(filled) == "from alert EtcdMemberDown: instance=m2"
    # a value is only offered: the pattern still decides (the session checks it when given)
    assert runbook.meta.vars["member"].problem_with("db1") == "'db1' does not match ^m[0-9]+$"
