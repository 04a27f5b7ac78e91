"""A batch's report as one HTML file. Pure.

Self-contained: its style in a ``<style>`` element, its timeline inline SVG, no
script, and no link but to its own anchors. Every value is escaped: prompts, tags,
details, check names and messages are an agent's or a user's to write.
"""

from __future__ import annotations

from html import escape

from ...batch.view import BatchRow
from ...review import ReviewRow
from ...text import printable
from ..timeline import timeline_svg
from ._gather import BatchReport

__all__ = ["PROMPT_CHARS", "TIMELINE_WIDTH", "batch_report_html"]

#: The timeline's drawn width; the page scales it down to a narrower window.
TIMELINE_WIDTH = 1280
#: Characters of a prompt the report shows.
PROMPT_CHARS = 2000

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 3px 8px; text-align: left;
         vertical-align: top; }
td.n { text-align: right; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dt { font-weight: bold; } dd { margin: 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f5;
      padding: 6px; max-height: 24em; overflow: auto; }
svg { max-width: 100%; height: auto; }
section.run { border-top: 1px solid #bdbdbd; margin-top: 1em; }
"""


def _e(value: object) -> str:
    """A value as HTML text: shown as it is (control and bidi characters as
    escapes), then escaped, quotes too."""
    return escape(printable(str(value)), quote=True)


def _block(text: str, limit: int | None = None) -> str:
    """Text of many lines for a ``<pre>``: each line as :func:`_e`, lines kept."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\n[... cut]"
    return "\n".join(_e(line) for line in text.split("\n"))


def _usd(value: float | None) -> str:
    return "" if value is None else f"${value:.4f}"


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    minutes, seconds = divmod(round(ms / 1000), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def batch_report_html(report: BatchReport) -> str:
    """The whole document."""
    title = f"batch {report.manifest.batch_id}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{_e(title)}</h1>",
            _header(report),
            '<h2 id="timeline">Timeline</h2>',
            timeline_svg(report.timeline, width=TIMELINE_WIDTH),
            '<h2 id="items">Items</h2>',
            _items(report),
            '<h2 id="runs">Runs, those needing a look first</h2>',
            *(_run(report, row) for row in report.review.rows),
            f"<p>made {_e(report.made)} by scad</p>",
            "</body></html>",
        ]
    )


def _header(report: BatchReport) -> str:
    manifest, view = report.manifest, report.view
    options, totals = manifest.options, view.totals
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(totals.outcomes.items()))
    facts = [
        ("config", manifest.config),
        ("state", view.supervisor + (" (budget spent)" if view.budget_spent else "")),
        ("made", manifest.created),
        ("prompts", f"{totals.prompts} from {manifest.source}"),
        ("outcomes", outcomes),
        ("runs at once", f"{options.parallel}" + (f" (now {view.limit})" if view.limit else "")),
        ("retries", f"{options.retries}, backoff {options.backoff:g} s"),
        ("budget", _usd(options.budget_usd) or "none"),
        ("cost", _usd(totals.cost_usd)),
        ("turns", f"{totals.turns}"),
        ("tokens", f"{totals.input_tokens} in, {totals.output_tokens} out"),
        ("duration", _duration(round(report.timeline.duration * 1000))),
        ("image", manifest.image),
        ("runs on", options.runs_on),
    ]
    lines = ["<dl>", *(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts), "</dl>"]
    if view.notes:
        lines += ["<ul>", *(f"<li>{_e(note)}</li>" for note in view.notes), "</ul>"]
    return "\n".join(lines)


_ITEM_HEADERS = ("#", "tag", "outcome", "run", "attempts", "turns", "tokens in", "tokens out",
                 "cost", "duration", "detail", "prompt")  # fmt: skip


def _items(report: BatchReport) -> str:
    prompts = {item.index: item.prompt for item in report.manifest.items}
    head = "".join(f"<th>{_e(h)}</th>" for h in _ITEM_HEADERS)
    rows = [_item(row, prompts.get(row.item, "")) for row in report.view.rows]
    return "\n".join(["<table>", f"<tr>{head}</tr>", *rows, "</table>"])


def _item(row: BatchRow, prompt: str) -> str:
    run = f'<a href="#item-{row.item}">{_e(row.run_id)}</a>' if row.run_id else ""
    attempts = f"{row.attempts}" + (f" ({row.fix_attempts} fixes)" if row.fix_attempts else "")
    cost = _usd(row.cost_usd) + ("~" if row.cost_estimated else "")
    cells = [
        f'<td class="n">{row.item}</td>',
        f"<td>{_e(row.tag)}</td>",
        f"<td>{_e(row.outcome)}</td>",
        f"<td>{run}</td>",
        f'<td class="n">{_e(attempts)}</td>',
        f'<td class="n">{row.turns}</td>',
        f'<td class="n">{row.input_tokens}</td>',
        f'<td class="n">{row.output_tokens}</td>',
        f'<td class="n">{_e(cost)}</td>',
        f"<td>{_e(_duration(row.duration_ms))}</td>",
        f"<td>{_e((row.detail or '').partition(chr(10))[0])}</td>",
        f"<td><details><summary>prompt</summary><pre>{_block(prompt, PROMPT_CHARS)}</pre>"
        "</details></td>",
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _run(report: BatchReport, row: ReviewRow) -> str:
    anchor = f' id="item-{row.item}"' if row.item is not None else ""
    checks = row.checks
    judged = [*(f"{n} passed" for n in checks.passed), *(f"{n} FAILED" for n in checks.failed)]
    facts = [
        ("outcome", row.outcome or "none"),
        ("checks", ", ".join(judged) or "none ran"),
        ("commits", f"{row.ahead}"),
        ("changed", f"{row.files_changed} files, +{row.insertions} -{row.deletions}"),
        ("cost", _usd(row.cost_usd) + ("~" if row.cost_estimated else "")),
        ("duration", _duration(row.duration_ms)),
    ]
    if checks.pinned:
        facts.append(("pinned paths changed", ", ".join(checks.pinned)))
    if row.detail:
        facts.append(("detail", row.detail))
    if row.problem:
        facts.append(("problem", row.problem))
    named = f"{row.item} {row.tag}" if row.item is not None else row.tag
    lines = [
        f'<section class="run"{anchor}>',
        f"<h3>{_e(named)} <small>{_e(row.run_id or 'no run')}</small></h3>",
        "<dl>",
        *(f"<dt>{_e(k)}</dt><dd>{_block(v) if k == 'detail' else _e(v)}</dd>" for k, v in facts),
        "</dl>",
    ]
    said = report.last_messages.get(row.run_id or "")
    if said is not None:
        lines.append(
            f"<details open><summary>last message</summary><pre>{_block(said)}</pre></details>"
        )
    lines.append("</section>")
    return "\n".join(lines)
