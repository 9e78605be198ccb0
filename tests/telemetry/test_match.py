"""Alert → runbook ranking over parsed runbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.journal.events import AlertFiring
from console.runbook.match import RunbookMatch, rank_runbooks
from console.runbook.model import Runbook
from console.runbook.parse import parse_runbook
from console.telemetry.alerts import Alert

BODY = "# {title}\n\n## 1. Look\n\nRead the dashboards.\n"


def write(folder: Path, name: str, front: str) -> Runbook:
    path = folder / name
    path.write_text(f"---\n{front}\n---\n" + BODY.format(title=name))
    runbook, problems = parse_runbook(path.read_text(), path)
    assert runbook is not None, [str(p) for p in problems]
    return runbook


@pytest.fixture
def library(tmp_path: Path) -> list[Runbook]:
    return [
        write(tmp_path, "etcd-member-down.md", "id: etcd-member-down\nalerts: [EtcdMemberDown]"),
        write(
            tmp_path,
            "etcd-general.md",
            "id: etcd-general\nalerts: [EtcdMemberDown, EtcdNoLeader, EtcdSlow]",
        ),
        write(tmp_path, "quorum.md", "id: etcd-quorum\nalerts: [EtcdNoLeader]"),
        write(tmp_path, "dlq.md", "id: dlq\nalerts: [DLQGrowing]\nseverity: warning"),
        write(tmp_path, "dlq-crit.md", "id: dlq-crit\nalerts: [DLQGrowing]\nseverity: critical"),
    ]


def alert(name: str, url: str | None = None, severity: str = "critical") -> Alert:
    annotations = {"runbook_url": url} if url else {}
    return Alert(
        fingerprint="f",
        labels={"alertname": name, "severity": severity},
        annotations=annotations,
        state="active",
    )


def ids(matches: list[RunbookMatch]) -> list[str]:
    return [m.runbook.id for m in matches]


def test_front_matter_alerts_and_the_more_specific_runbook_first(library: list[Runbook]) -> None:
    matches = rank_runbooks(alert("EtcdMemberDown"), library)
    assert ids(matches) == ["etcd-member-down", "etcd-general"]
    assert matches[0].reasons == ("front matter lists EtcdMemberDown",)


def test_no_match_is_empty(library: list[Runbook]) -> None:
    assert rank_runbooks(alert("DiskFull"), library) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://wiki.example.invalid/runbooks/quorum.md",
        "https://git.example.invalid/ops/blob/main/runbooks/etcd-quorum",
        "https://wiki.example.invalid/runbooks/quorum.html",
        "https://wiki.example.invalid/runbooks/#etcd-quorum",
    ],
)
def test_runbook_url_by_file_name_or_id_outranks_front_matter(
    library: list[Runbook], url: str
) -> None:
    matches = rank_runbooks(alert("EtcdMemberDown", url), library)
    assert ids(matches)[0] == "etcd-quorum"
    assert matches[0].reasons[0].startswith("runbook_url ends in")
    assert set(ids(matches)) == {"etcd-quorum", "etcd-member-down", "etcd-general"}


def test_runbook_url_as_file_path_and_file_url(library: list[Runbook], tmp_path: Path) -> None:
    target = tmp_path / "etcd-general.md"
    for url in (str(target), target.as_uri()):
        matches = rank_runbooks(alert("EtcdMemberDown", url), library)
        assert ids(matches)[0] == "etcd-general"
        assert matches[0].score > matches[1].score
        assert matches[0].reasons[0] == f"runbook_url points at {target}"


def test_relative_path_resolves_against_base(library: list[Runbook], tmp_path: Path) -> None:
    matches = rank_runbooks(alert("Other", "./dlq.md"), library, base=tmp_path)
    assert ids(matches) == ["dlq"]
    assert matches[0].reasons == (f"runbook_url points at {tmp_path / 'dlq.md'}",)


def test_runbook_url_to_an_unknown_runbook_is_ignored(library: list[Runbook]) -> None:
    matches = rank_runbooks(alert("DLQGrowing", "https://wiki.example.invalid/other.md"), library)
    assert ids(matches) == ["dlq-crit", "dlq"]  # critical alert: the critical runbook first


def test_severity_breaks_ties(library: list[Runbook]) -> None:
    assert ids(rank_runbooks(alert("DLQGrowing", severity="warning"), library)) == [
        "dlq",
        "dlq-crit",
    ]


def test_a_journaled_alert_event_ranks_the_same(library: list[Runbook]) -> None:
    event = AlertFiring(
        fingerprint="f",
        alertname="EtcdNoLeader",
        labels={"alertname": "EtcdNoLeader"},
        annotations={"runbook_url": "https://x.example.invalid/etcd-general.md"},
    )
    assert ids(rank_runbooks(event, library)) == ["etcd-general", "etcd-quorum"]
