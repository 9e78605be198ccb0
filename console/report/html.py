"""The postmortem as one self-contained HTML page: one body per section of ``SECTIONS``.

Every field from the log goes through ``_h``, which shows control characters as pictures
and then HTML-escapes; the page has inline CSS and SVG sparklines and no scripts.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from console.journal.events import labels_text
from console.report import sections
from console.report.postmortem import BlockReport, Postmortem
from console.report.sections import FILL_IN, Section
from console.sanitize import visible
from console.sparkline import finite

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1d2430;background:#fff}
h1{font-size:1.7rem;margin-bottom:.3rem}h2{border-bottom:1px solid #d6dbe3;padding-bottom:.2rem;
margin-top:2rem}h3{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #d6dbe3;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #e1e5eb;padding:.5rem;overflow-x:auto;font-size:13px}
.banner{background:#fff4ce;border:1px solid #e0c060;padding:.6rem 1rem;font-weight:600}
.blank{color:#6a7485;font-style:italic}.muted{color:#6a7485;font-size:.9em}
.pass{color:#1a7f37}.fail,.error{color:#c62828;font-weight:600}
.indeterminate{color:#9a6700;font-weight:600}
svg.spark{vertical-align:middle}
"""


def _h(text: str) -> str:
    """``text`` for HTML: control characters made visible first, then escaped."""
    return html.escape(visible(text), quote=True)


def svg_sparkline(values: Sequence[float], width: int = 160, height: int = 28) -> str:
    """An inline SVG line of the finite ``values`` (empty for fewer than two)."""
    values = finite(values)
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 4) / (len(values) - 1)
    points = [
        (2 + i * step, height - 2 - (v - low) / span * (height - 4)) for i, v in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last_x, last_y = points[-1]
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>min {low:g}, max {high:g}, last {values[-1]:g}</title>'
        f'<polyline fill="none" stroke="#3867d6" stroke-width="1.5" points="{path}"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2" fill="#3867d6"/></svg>'
    )


def _verdict_class(verdict: str) -> str:
    return verdict if verdict in ("pass", "fail", "error", "indeterminate") else ""


def to_html(pm: Postmortem) -> str:
    """The postmortem as one page: the header, then each of ``SECTIONS`` in order."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(sections.title(pm))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(sections.title(pm))}</h1>",
    ]
    if pm.drill:
        out.append(f'<p class="banner">{_h(pm.mode.upper())}. {_h(sections.drill_banner(pm))}</p>')
    out.append("<table>")
    out += [f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in sections.facts(pm)]
    out.append(f'<tr><th>Authors</th><td class="blank">{FILL_IN}</td></tr></table>')
    for section, body in sections.section_bodies(pm, globals(), _blank):
        out += [f"<h2>{_h(section.heading(pm))}</h2>", *body]
    out.append("</body></html>")
    return visible("\n".join(out)) + "\n"  # and nothing else raw slips through


def _blank(section: Section) -> list[str]:
    """A section the team writes: its placeholder, or its subsections to fill in."""
    if section.placeholder:
        return [f'<p class="blank">{_h(section.placeholder)}</p>']
    return [f'<h3>{_h(h)}</h3><p class="blank">{FILL_IN}</p>' for h in section.subsections]


def _summary(pm: Postmortem) -> list[str]:
    if pm.summary:
        return [f"<p>{_h(pm.summary)}</p>"]
    return ['<p class="blank">(What happened, the impact, and how it ended.)</p>']


def _impact(pm: Postmortem) -> list[str]:
    out = ["<ul>"]
    out += [
        f"<li>{_h(m.label.capitalize())}: {_h(m.at)} "
        f'<span class="muted">({_h(sections.mark_origin(m))})</span></li>'
        for m in pm.milestones
    ] or ["<li>No milestone was recorded.</li>"]
    out.append("</ul><p>Alerts:</p><ul>")
    out += [
        f"<li>{_h(a.alertname + labels_text(a.labels))}: seen {_h(a.seen_at)}"
        + (f", resolved {_h(a.resolved_at)}" if a.resolved_at else ", not resolved in the log")
        + (f" — {_h(a.summary)}" if a.summary else "")
        + "</li>"
        for a in pm.alerts
    ] or ["<li>none</li>"]
    return [*out, '</ul><p class="blank">(Who and what was affected, and how badly.)</p>']


def _detection(pm: Postmortem) -> list[str]:
    return ["".join(f"<p>{_h(line)}</p>" for line in pm.detection)]


def _resolution(pm: Postmortem) -> list[str]:
    return ["<ul>", *[f"<li>{_h(line)}</li>" for line in pm.resolution], "</ul>"]


def _figures(pm: Postmortem) -> list[str]:
    figure_set = pm.figures or pm.drill_figures
    assert figure_set is not None
    out = [f'<p class="banner">{_h(sections.drill_banner(pm))}</p>'] if pm.drill else []
    out.append(f"<p>Measured from impact start ({_h(figure_set.impact_started or 'unknown')}).</p>")
    if figure_set.refused:
        out.append("<p>Figures refused, the milestones are out of order:</p><ul>")
        out += [f"<li>{_h(r)}</li>" for r in figure_set.refused]
        out.append("</ul>")
    else:
        out.append("<table><tr><th>Figure</th><th>Until</th><th>Value</th></tr>")
        out += [
            f"<tr><td>{f.name}</td><td>{_h(f.milestone)}</td><td>{_h(f.text)}</td></tr>"
            for f in figure_set.figures
        ]
        out.append("</table>")
    if figure_set.notes:
        out.append("<ul>" + "".join(f"<li>{_h(n)}</li>" for n in figure_set.notes) + "</ul>")
    return out


def _action_items(pm: Postmortem) -> list[str]:
    return [
        "<table><tr><th>Action item</th><th>Type</th><th>Owner</th>"
        "<th>Bug</th></tr><tr><td>&nbsp;</td><td></td><td></td><td></td></tr></table>"
    ]


def _timeline(pm: Postmortem) -> list[str]:
    out = [
        f"<p>All times UTC; T+ is from {_h(pm.t0_label)} at {_h(pm.t0)}.</p>"
        "<table><tr><th>T+</th><th>UTC</th><th>seq</th><th>Who</th><th>Event</th></tr>"
    ]
    for row in pm.timeline:
        note = (
            f' <span class="muted">{_h(sections.row_note(row))}</span>'
            if sections.row_note(row)
            else ""
        )
        out.append(
            f'<tr><td class="num">{_h(row.offset)}</td><td class="num">{_h(row.at[11:])}</td>'
            f'<td class="num">{row.seq}</td><td>{_h(row.actor)}</td>'
            f"<td>{_h(row.text)}{note}</td></tr>"
        )
    return [*out, "</table>"]


def _blocks(pm: Postmortem) -> list[str]:
    return [line for block in pm.blocks for line in _block(block)] or [
        "<p>No check or action was run from the console.</p>"
    ]


def _block(block: BlockReport) -> list[str]:
    status = sections.status_text(block.status)
    out = [
        f"<h3>{_h(block.offset)} · {_h(block.kind)} <code>{_h(block.block)}</code> on "
        f'{_h(", ".join(block.nodes))} — <span class="{_verdict_class(block.status)}">'
        f"{_h(status)}</span></h3>",
        f"<p>{_h(sections.started_text(block))}</p>",
    ]
    if block.confirmations:
        out.append("<ul>" + "".join(f"<li>Confirmed {_h(c)}</li>" for c in block.confirmations))
        out.append("</ul>")
    if block.reason:
        out.append(f"<p>Note: {_h(block.reason)}</p>")
    out.append(f"<pre>{_h(block.command)}</pre>")
    out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in sections.RESULT_COLUMNS) + "</tr>")
    for r in block.results:
        node, verdict, *rest = (_h(cell) for cell in sections.result_cells(r))
        out.append(
            f'<tr><td>{node}</td><td class="{_verdict_class(r.verdict)}">{verdict}</td>'
            + "".join(f"<td>{cell}</td>" for cell in rest)
            + "</tr>"
        )
    out.append("</table>")
    for r in block.results:
        for x in r.output:
            out.append(f"<p>{_h(r.node)} {_h(x.stream)}:</p><pre>{_h(x.text)}</pre>")
            pointer = sections.excerpt_pointer(x)
            if pointer:
                out.append(f'<p class="muted">({_h(pointer)})</p>')
    return out


def _notes(pm: Postmortem) -> list[str]:
    out = ["<ul>"]
    out += [
        f'<li>{_h(n.at)} <span class="muted">({_h(n.actor)}, log seq {n.seq}'
        + (f", corrects seq {n.corrects}" if n.corrects is not None else "")
        + f")</span>: {_h(n.text)}"
        + (f" <em>(corrected by seq {n.corrected_by})</em>" if n.corrected_by is not None else "")
        + "</li>"
        for n in pm.notes
    ] or ["<li>none</li>"]
    return [*out, "</ul>"]


def _metrics(pm: Postmortem) -> list[str]:
    if not pm.metrics:
        return ["<p>No metric snapshot was recorded.</p>"]
    out = ["<table><tr><th>Panel</th><th>Trend</th><th>Last</th><th>Snapshots</th></tr>"]
    out += [
        f'<tr><td>{_h(m.title)} <span class="muted">({_h(m.kind)})</span></td>'
        f"<td>{svg_sparkline(m.values)}</td>"
        f"<td>{_h(sections.num(m.last_value, m.unit))} {_h(m.last_state)}</td>"
        f'<td>{m.snapshots} <span class="muted">({_h(m.source)})</span></td></tr>'
        for m in pm.metrics
    ]
    return [*out, "</table>"]


def _log(pm: Postmortem) -> list[str]:
    items = [
        "<li>"
        + "".join(f"<code>{_h(text)}</code>" if is_code else _h(text) for text, is_code in line)
        + "</li>"
        for line in sections.log_lines(pm)
    ]
    return ["<ul>", *items, "</ul>"]
