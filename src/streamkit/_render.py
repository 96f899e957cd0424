"""Tables for people: the cost report and the price table as text, Markdown or rich.

One place draws every table streamkit prints. A table is first laid out as a
:class:`Grid` of strings (money already formatted by
:func:`streamkit.pricing.format_money`), then drawn by :func:`grid_text`,
:func:`grid_markdown` or :func:`grid_rich`. JSON needs no drawing: the report
models are pydantic models (``model_dump_json``).

Nothing here computes money; it only places strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streamkit.pricing import format_money

if TYPE_CHECKING:
    from rich.table import Table

    from streamkit.cost_report import CostReport

__all__ = [
    "Grid",
    "PriceRow",
    "cost_report_grid",
    "grid_markdown",
    "grid_rich",
    "grid_text",
    "prices_grid",
]


@dataclass(frozen=True, slots=True)
class Grid:
    """A table of strings: header, rows, an optional footer row and notes."""

    header: list[str]
    rows: list[list[str]]
    footer: list[str] | None = None
    """A totals row, drawn under a rule (bold in rich)."""
    left: frozenset[int] = frozenset({0})
    """Left-aligned columns; the others are right-aligned (numbers)."""
    title: str | None = None
    """Printed above the table (text) or as its title (rich)."""
    caption: str | None = None
    """Printed under the table (text, Markdown in italics) or as its caption (rich)."""
    rich_title: str | None = None
    """The rich title when it differs from ``title``."""
    rich_caption: str | None = None
    """The rich caption when it differs from ``caption``."""
    bold_column: str | None = None
    """A column (by header) drawn bold in rich."""
    dim_rows: frozenset[int] = field(default_factory=frozenset)
    """Rows (by position) drawn dim in rich, e.g. the higher tiers of a model."""


def grid_text(grid: Grid) -> str:
    """The grid as aligned plain text: title, header, rule, rows, [rule, footer], caption."""
    table = [grid.header, *grid.rows]
    if grid.footer is not None:
        table.append(grid.footer)
    widths = [max(len(r[i]) for r in table) for i in range(len(grid.header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in grid.left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    head = line(grid.header)
    rule = "-" * len(head)
    lines = [] if grid.title is None else [grid.title]
    lines += [head, rule, *(line(r) for r in grid.rows)]
    if grid.footer is not None:
        lines += [rule, line(grid.footer)]
    if grid.caption is not None:
        lines.append(grid.caption)
    return "\n".join(lines)


def grid_markdown(grid: Grid) -> str:
    """The grid as a Markdown table (footer as a last row), the caption in italics."""
    align = "|" + "".join("---|" if i in grid.left else "---:|" for i in range(len(grid.header)))
    lines = ["| " + " | ".join(grid.header) + " |", align]
    rows = grid.rows if grid.footer is None else [*grid.rows, grid.footer]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    return text if grid.caption is None else f"{text}\n\n*{grid.caption}*"


def grid_rich(grid: Grid) -> Table:
    """The grid as a ``rich.table.Table``.

    Raises:
        ImportError: rich is not installed (``pip install 'streamkit[cli]'``).
    """
    try:
        from rich.table import Table
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("drawing this table needs rich: pip install 'streamkit[cli]'") from exc
    table = Table(
        title=grid.rich_title if grid.rich_title is not None else grid.title,
        caption=grid.rich_caption if grid.rich_caption is not None else grid.caption,
    )
    for i, name in enumerate(grid.header):
        table.add_column(
            name,
            justify="left" if i in grid.left else "right",
            style="bold" if name == grid.bold_column else None,
            overflow="fold",
        )
    for n, row in enumerate(grid.rows):
        table.add_row(*row, style="dim" if n in grid.dim_rows else None)
    if grid.footer is not None:
        table.add_section()
        table.add_row(*grid.footer, style="bold")
    return table


# ---- the cost report ------------------------------------------------------------------------


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def cost_report_grid(report: CostReport) -> Grid:
    """The per-model table of a :class:`~streamkit.CostReport`, its summary as the caption.

    Costs marked ``~`` include estimated usage; ``unknown`` means no price.
    """
    show_display = report.currency != "USD"
    header = ["model", "streams", "input", "cached", "cache write", "output", "reasoning"]
    header.append("cost (USD)")
    if show_display:
        header.append(f"cost ({report.currency})")
    rows: list[list[str]] = []
    for m in report.models:
        u = m.usage
        cost = "unknown" if m.cost_usd is None else format_money(m.cost_usd)
        if m.estimated_streams and m.cost_usd is not None:
            cost = "~" + cost
        counts = (
            u.input_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.output_tokens,
            u.reasoning_tokens,
        )
        row = [m.model, str(m.streams), *(_count(v) for v in counts), cost]
        if show_display:
            row.append(
                "unknown"
                if m.display_cost is None
                else format_money(m.display_cost, report.currency)
            )
        rows.append(row)
    footer = ["total", str(report.stream_count), "", "", "", "", ""]
    footer.append(format_money(report.total_cost_usd))
    if show_display:
        footer.append(format_money(report.display_cost, report.currency))
    return Grid(
        header,
        rows,
        footer,
        caption=_cost_summary(report),
        rich_title="streamkit usage and cost",
    )


def _cost_summary(report: CostReport) -> str:
    parts = [f"spent {format_money(report.total_cost_usd)}"]
    if report.running_cost_usd != report.total_cost_usd:
        parts.append(f"running {format_money(report.running_cost_usd)} (with estimates)")
    if report.reserved_usd:
        parts.append(f"reserved {format_money(report.reserved_usd)}")
    if report.budget_usd is not None:
        parts.append(f"budget {format_money(report.budget_usd)}")
        if report.remaining_usd is not None:
            parts.append(f"remaining {format_money(report.remaining_usd)}")
    if report.per_stream_budget_usd is not None:
        parts.append(f"per-stream budget {format_money(report.per_stream_budget_usd)}")
    if report.unpriced_models:
        parts.append(f"no price for: {', '.join(report.unpriced_models)}")
    return "; ".join(parts)


# ---- the price table ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One row of the price table (a model, or one of its higher tiers), as strings."""

    model: str
    provider: str
    input: str
    cached_input: str
    cache_write: str
    cache_write_1h: str
    output: str
    cost: str | None
    """The cost of the volume asked for; ``None`` when no volume was given."""
    source: str
    checked: str
    tier: bool = False
    """A higher tier of the model above (drawn dim)."""


def prices_grid(rows: list[PriceRow], input_tokens: int | None, output_tokens: int | None) -> Grid:
    """The price table: one row per model and tier, a cost column when a volume is given."""
    title = "Prices in USD per 1M tokens"
    cost_header: str | None = None
    if input_tokens is not None or output_tokens is not None:
        parts = []
        if input_tokens is not None:
            parts.append(f"{input_tokens:,} input")
        if output_tokens is not None:
            parts.append(f"{output_tokens:,} output")
        volume = " + ".join(parts)
        title = f"{title}; cost of {volume} tokens per model (base tier, uncached)"
        cost_header = f"cost of {volume}"
    header = ["model", "provider", "input", "cached input", "cache write", "write 1h", "output"]
    if cost_header is not None:
        header.append(cost_header)
    header += ["checked", "source"]
    cells = []
    for row in rows:
        line = [row.model, row.provider, row.input, row.cached_input, row.cache_write]
        line += [row.cache_write_1h, row.output]
        if cost_header is not None:
            line.append(row.cost or "")
        line += [row.checked, row.source]
        cells.append(line)
    return Grid(
        header,
        cells,
        left=frozenset({0, 1, len(header) - 2, len(header) - 1}),
        title=title,
        caption=(
            "'= input': billed at the input price; '= write': at the cache write price. "
            "Override: PriceTable.with_prices()."
        ),
        rich_caption="'= input': billed at the input price; '= write': at the cache write price",
        bold_column=cost_header,
        dim_rows=frozenset(n for n, row in enumerate(rows) if row.tier),
    )
