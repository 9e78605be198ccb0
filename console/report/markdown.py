"""The postmortem as Markdown: one body per section of ``SECTIONS``, escaped as it is drawn.

Every field from the log goes through ``md`` (inline), ``code`` (inline code) or ``fence``
(blocks), which show control characters as pictures and escape what Markdown would act on.
"""

from __future__ import annotations

import re

from console.journal.events import labels_text
from console.report.postmortem import BlockReport, Postmortem
from console.report.sections import (
    FILL_IN,
    RESULT_COLUMNS,
    Section,
    drill_banner,
    excerpt_pointer,
    facts,
    log_lines,
    mark_origin,
    num,
    result_cells,
    row_note,
    section_bodies,
    started_text,
    status_text,
    title,
)
from console.sanitize import visible
from console.sparkline import sparkline

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(text: str) -> str:
    """``text`` safe inline in Markdown: controls visible, specials escaped, newlines as spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(visible(text).split()))


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def code(text: str) -> str:
    """``text`` as an inline code span that a backtick inside it cannot end."""
    text = visible(text, one_line=True)
    ticks = "`" * (_longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, lang: str = "") -> list[str]:
    """``text`` in a fenced block whose fence is longer than any backtick run in it."""
    text = visible(text)
    ticks = "`" * max(3, _longest_backticks(text) + 1)
    return [f"{ticks}{visible(lang, one_line=True)}", *text.rstrip("\n").split("\n"), ticks]


def to_markdown(pm: Postmortem) -> str:
    """The postmortem as Markdown: the header, then each of ``SECTIONS`` in order."""
    out: list[str] = [f"# {md(title(pm))}", ""]
    if pm.drill:
        out += [f"> **{pm.mode.upper()}.** {drill_banner(pm)}", ""]
    out += ["| | |", "| --- | --- |"]
    out += [f"| {name} | {md(value)} |" for name, value in facts(pm)]
    out += [f"| Authors | _{FILL_IN}_ |", ""]
    for section, body in section_bodies(pm, globals(), _blank):
        while body and not body[-1]:
            body.pop()
        out += [f"## {section.heading(pm)}", "", *body, ""]
    return visible("\n".join(out[:-1])) + "\n"  # and nothing else raw slips through


def _blank(section: Section) -> list[str]:
    """A section the team writes: its placeholder, or its subsections to fill in."""
    if section.placeholder:
        return [f"_{section.placeholder}_"]
    out = []
    for heading in section.subsections:
        out += [f"### {heading}", "", f"_{FILL_IN}_", ""]
    return out


def _summary(pm: Postmortem) -> list[str]:
    return [md(pm.summary) if pm.summary else "_(What happened, the impact, and how it ended.)_"]


def _impact(pm: Postmortem) -> list[str]:
    out = [f"- {m.label.capitalize()}: {m.at} ({md(mark_origin(m))})" for m in pm.milestones] or [
        "- No milestone was recorded."
    ]
    out += ["", "Alerts:", ""]
    out += [
        f"- {md(a.alertname + labels_text(a.labels))}: seen {a.seen_at}"
        + (f", resolved {a.resolved_at}" if a.resolved_at else ", not resolved in the log")
        + (f" — {md(a.summary)}" if a.summary else "")
        for a in pm.alerts
    ] or ["- none"]
    return [*out, "", "_(Who and what was affected, and how badly.)_"]


def _detection(pm: Postmortem) -> list[str]:
    return [md(line) for line in pm.detection]


def _resolution(pm: Postmortem) -> list[str]:
    return [f"- {md(line)}" for line in pm.resolution]


def _figures(pm: Postmortem) -> list[str]:
    figure_set = pm.figures or pm.drill_figures
    assert figure_set is not None
    out = [f"_{drill_banner(pm)}_", ""] if pm.drill else []
    start = figure_set.impact_started or "unknown"
    out += [f"Measured from impact start ({start}).", ""]
    if figure_set.refused:
        out += ["Figures refused, the milestones are out of order:", ""]
        out += [f"- {md(r)}" for r in figure_set.refused]
    else:
        out += ["| Figure | Until | Value |", "| --- | --- | --- |"]
        out += [f"| {f.name} | {f.milestone} | {f.text} |" for f in figure_set.figures]
    if figure_set.notes:
        out += ["", *[f"- {md(n)}" for n in figure_set.notes]]
    return out


def _action_items(pm: Postmortem) -> list[str]:
    return ["| Action item | Type | Owner | Bug |", "| --- | --- | --- | --- |", "| | | | |"]


def _timeline(pm: Postmortem) -> list[str]:
    out = [
        f"All times UTC; T+ is from {pm.t0_label} at {pm.t0}.",
        "",
        "| T+ | UTC | seq | Who | Event |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in pm.timeline:
        out.append(
            f"| {row.offset} | {row.at[11:]} | {row.seq} | {md(row.actor)} | "
            f"{md(row.text)}{row_note(row)} |"
        )
    return out


def _blocks(pm: Postmortem) -> list[str]:
    return [line for block in pm.blocks for line in _block(block)] or [
        "No check or action was run from the console."
    ]


def _block(block: BlockReport) -> list[str]:
    out = [
        f"### {block.offset} · {block.kind} {code(block.block)} on {md(', '.join(block.nodes))} — "
        f"{md(status_text(block.status))}",
        "",
        md(started_text(block)),
        "",
    ]
    out += [f"- Confirmed {md(c)}" for c in block.confirmations]
    if block.confirmations:
        out.append("")
    if block.reason:
        out += [f"Note: {md(block.reason)}", ""]
    out += [*fence(block.command, block.lang), ""]
    out += [_row(RESULT_COLUMNS), _row(("---",) * len(RESULT_COLUMNS))]
    out += [_row(tuple(md(cell) for cell in result_cells(r))) for r in block.results]
    out.append("")
    for r in block.results:
        for x in r.output:
            out += [f"{md(r.node)} {x.stream}:", "", *fence(x.text or " ")]
            pointer = excerpt_pointer(x)
            out += [f"_({md(pointer)})_", ""] if pointer else [""]
    return out


def _row(cells: tuple[str, ...]) -> str:
    """A Markdown table row of already-escaped ``cells``."""
    return "| " + " | ".join(cells) + " |"


def _notes(pm: Postmortem) -> list[str]:
    return [
        f"- {n.at} ({md(n.actor)}, log seq {n.seq}"
        + (f", corrects seq {n.corrects}" if n.corrects is not None else "")
        + f"): {md(n.text)}"
        + (f" — corrected by seq {n.corrected_by}" if n.corrected_by is not None else "")
        for n in pm.notes
    ] or ["- none"]


def _metrics(pm: Postmortem) -> list[str]:
    return [
        f"- {md(m.title)} ({md(m.kind)}): {sparkline(m.values)} last {num(m.last_value, m.unit)} "
        f"{md(m.last_state)} ({m.snapshots} snapshot(s), {m.source})"
        for m in pm.metrics
    ] or ["- No metric snapshot was recorded."]


def _md_piece(text: str) -> str:
    """``md(text)`` for a piece of a line, keeping the space at either end that joins it."""
    lead = " " if text[:1].isspace() else ""
    return lead + md(text) + (" " if text[-1:].isspace() and text.strip() else "")


def _log(pm: Postmortem) -> list[str]:
    return [
        "- " + "".join(code(text) if is_code else _md_piece(text) for text, is_code in line)
        for line in log_lines(pm)
    ]
