"""What a :class:`~streamkit.CostTracker` reports: totals, per model, per stream.

Frozen pydantic models, JSON-ready (money as decimal strings) and drawn as tables
by :mod:`streamkit._render` (``to_text``, ``to_rich_table``, notebooks). The
tracker builds them (:meth:`CostTracker.report`); nothing here computes money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from streamkit._render import cost_report_grid, grid_markdown, grid_rich, grid_text
from streamkit.metrics import StreamMetrics
from streamkit.pricing import CostBasis
from streamkit.usage import Usage

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["CostReport", "ModelCost", "StreamCost", "StreamStatus"]

StreamStatus = Literal["open", "complete", "incomplete", "failed"]
"""``open`` until closed; then ``complete`` (ended normally), ``incomplete``
(closed before the end without an error, e.g. the caller stopped reading) or
``failed`` (closed with an error)."""

_ZERO = Decimal(0)


class StreamCost(BaseModel):
    """One stream in a :class:`CostReport`. Money in USD unless named ``display_*``."""

    model_config = ConfigDict(frozen=True)

    stream_id: int
    model: str
    """The model requested."""
    provider: str
    price_model: str | None = None
    """The model whose price was used (``None``: unknown model, no cost)."""
    cost_basis: CostBasis | None = None
    """Which model, provider, price source and data version priced the stream."""
    status: StreamStatus = "open"
    usage: Usage | None = None
    """Usage over all attempts; ``estimated`` when an attempt broke before its usage."""
    cost_usd: Decimal | None = None
    display_cost: Decimal | None = None
    """``cost_usd`` in the report's display currency."""
    estimated: bool = False
    reservation_usd: Decimal | None = None
    """What the stream reserved before it started (``reserve=True``; released at close)."""
    retries: int = 0
    resumes: int = 0
    attempts: int = 1
    response_model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    """``"ErrorClass: message"`` when the stream failed."""
    metrics: StreamMetrics | None = None
    """Timing of the stream, when it was closed with a result."""


class ModelCost(BaseModel):
    """The streams of one requested model name in a :class:`CostReport`."""

    model_config = ConfigDict(frozen=True)

    model: str
    price_model: str | None = None
    """The model whose price was used (the last stream's)."""
    streams: int = 0
    usage: Usage = Field(default_factory=Usage)
    """Summed usage (a bucket is ``None`` when no stream reported it)."""
    cost_usd: Decimal | None = None
    """``None`` when the model has no price."""
    display_cost: Decimal | None = None
    estimated_streams: int = 0
    """Streams whose usage is (partly) estimated."""


class CostReport(BaseModel):
    """A snapshot of a :class:`CostTracker`: totals, per model, per recent stream.

    Round-trips through JSON exactly (money as decimal strings):
    ``CostReport.model_validate_json(report.to_json()) == report``.
    """

    model_config = ConfigDict(frozen=True)

    currency: str = "USD"
    """Display currency."""
    exchange_rate: Decimal = Decimal(1)
    """Units of ``currency`` per 1 USD."""
    total_cost_usd: Decimal = _ZERO
    display_cost: Decimal = _ZERO
    """``total_cost_usd`` in ``currency``."""
    running_cost_usd: Decimal = _ZERO
    """Total including estimates of output not yet covered by usage."""
    budget_usd: Decimal | None = None
    per_stream_budget_usd: Decimal | None = None
    reserved_usd: Decimal = _ZERO
    """What open streams' reservations hold beyond their running cost."""
    remaining_usd: Decimal | None = None
    """``budget_usd`` minus the running cost and the reservations."""
    stream_count: int = 0
    unpriced_models: list[str] = Field(default_factory=list)
    """Requested models without a price (their streams have no cost)."""
    models: list[ModelCost] = Field(default_factory=list)
    streams: list[StreamCost] = Field(default_factory=list)
    """The most recent streams (up to the tracker's ``keep_streams``)."""

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text (``model_dump_json``)."""
        return self.model_dump_json(indent=indent)

    def to_text(self) -> str:
        """The per-model table and a summary line, as plain text.

        Costs marked ``~`` include estimated usage (attempts that broke before the
        provider reported usage); ``unknown`` means the model has no price.
        """
        return grid_text(cost_report_grid(self))

    def _repr_markdown_(self) -> str:
        """Notebook view: the per-model table and the summary as Markdown."""
        return grid_markdown(cost_report_grid(self))

    def to_rich_table(self) -> Table:
        """The per-model table as a ``rich.table.Table`` (summary as its caption).

        Raises:
            ImportError: rich is not installed (``pip install 'streamkit[cli]'``).
        """
        return grid_rich(cost_report_grid(self))

    def __str__(self) -> str:
        return self.to_text()
