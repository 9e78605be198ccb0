"""The runbook library: parsed on first use, by name first, in the files' order."""

from __future__ import annotations

from pathlib import Path

import pytest

import console.runbook.library as library_module
from console.runbook.library import load_library

GOOD = "---\nid: {id}\ntitle: {id}\nalerts: [{id}Alert]\n---\n# {id}\n\n## Step\n\nText.\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / f"{name}.md").write_text(GOOD.format(id=name))
    (tmp_path / "delta.md").write_text(GOOD.format(id="renamed"))  # id unlike its file
    (tmp_path / "broken.md").write_text("---\nid: [unclosed\n---\n# Broken\n\n## Step\n")
    (tmp_path / "README.md").write_text("# Not a runbook: no front matter\n")
    return tmp_path


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files parsed, in the order they were."""
    seen: list[str] = []
    real = library_module.parse_runbook

    def counting(text: str, file: Path):  # type: ignore[no-untyped-def]
        seen.append(Path(file).name)
        return real(text, file)

    monkeypatch.setattr(library_module, "parse_runbook", counting)
    return seen


def test_only_files_that_could_hold_the_runbook_asked_for_are_parsed(
    folder: Path, parsed: list[str]
) -> None:
    library = load_library([folder])
    assert parsed == []  # nothing is parsed before it is asked for
    runbook = library.by_id("beta")
    assert runbook is not None and runbook.id == "beta"
    assert parsed == ["beta.md"]  # alpha.md does not name it: left for later


def test_an_id_spelled_with_a_yaml_escape_is_still_found_first(tmp_path: Path) -> None:
    """Front matter can spell an id without its letters (a double-quoted escape): such a file
    is parsed, so the first runbook in the files' order still wins."""
    escaped = GOOD.format(id="beta").replace("id: beta", 'id: "be\\x74a"').replace("beta", "b")
    (tmp_path / "a-escaped.md").write_text(escaped)
    assert "beta" not in escaped
    (tmp_path / "b-plain.md").write_text(GOOD.format(id="beta"))
    found = load_library([tmp_path]).by_id("beta")
    assert found is not None and Path(found.file).name == "a-escaped.md"


def test_the_first_runbook_in_the_files_order_wins_an_id_two_share(tmp_path: Path) -> None:
    """A team's runbook that reuses a bundled runbook's id under another file name comes first
    when the team's folder comes first (as in a drill), whatever was parsed before."""
    team, bundled = tmp_path / "team", tmp_path / "bundled"
    team.mkdir()
    bundled.mkdir()
    (team / "our-rollback.md").write_text(GOOD.format(id="change-rollback"))
    (bundled / "change-rollback.md").write_text(GOOD.format(id="change-rollback"))
    library = load_library([team, bundled])
    library.runbooks  # noqa: B018 - everything parsed first: the order still decides
    found = library.by_id("change-rollback")
    assert found is not None and Path(found.file).parent == team
    assert load_library([team, bundled]).by_id("change-rollback").file == found.file  # type: ignore[union-attr]


def test_an_id_unlike_its_file_name_is_still_found(folder: Path, parsed: list[str]) -> None:
    library = load_library([folder])
    runbook = library.by_id("renamed")
    assert runbook is not None and Path(runbook.file).name == "delta.md"
    assert library.by_id("nowhere") is None
    assert parsed == ["delta.md"]  # no other file names either


def test_the_whole_library_keeps_the_files_order_and_every_problem(
    folder: Path, parsed: list[str]
) -> None:
    library = load_library([folder])
    library.by_id("gamma")  # parsed out of order first
    assert [r.id for r in library.runbooks] == ["alpha", "beta", "renamed", "gamma"]
    problems = [str(p) for p in library.problems]
    assert problems and all(p.startswith(f"{folder / 'broken.md'}:") for p in problems)
    assert problems[0].startswith(f"{folder / 'broken.md'}:2: bad YAML")
    library.runbooks  # noqa: B018 - asked again: nothing is parsed twice
    assert sorted(parsed) == ["alpha.md", "beta.md", "broken.md", "delta.md", "gamma.md"]
