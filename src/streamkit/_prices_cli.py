"""``streamkit prices``: the combined price table and what a token volume costs per model.

Pure functions returning text (or a rich ``Table``); ``cli.py`` wires them to
``streamkit prices [--input-tokens N] [--output-tokens N] [--model M] [--provider P]``.
The table lists streamkit's override entries, then every model genai-prices prices,
each with its source; :mod:`streamkit._render` draws it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from streamkit._render import PriceRow, grid_rich, grid_text, prices_grid
from streamkit.pricing import ModelPrice, PriceTable, PriceTier, _family, format_money
from streamkit.usage import Usage

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "PriceRow",
    "parse_token_count",
    "prices_command",
    "prices_rich_table",
    "prices_rows",
]

_SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000, "g": 1_000_000_000}
_VOLUME = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?|\.[0-9]+)\s*([kmbg]?)\s*$", re.IGNORECASE)


def parse_token_count(text: str) -> int:
    """Parse a token volume: ``1000``, ``1,000``, ``500k``, ``1.5M``, ``10M``, ``2B``.

    Suffixes (case-insensitive): ``k`` = 10^3, ``M`` = 10^6, ``B``/``G`` = 10^9.

    Raises:
        ValueError: not a non-negative whole number of tokens (``1.5k5``, ``-3``,
            ``0.5`` without a suffix that makes it whole).
    """
    match = _VOLUME.match(text)
    if match is None:
        raise ValueError(f"not a token count: {text!r} (examples: 1000, 500k, 1.5M, 10M)")
    number, suffix = match.groups()
    try:
        value = Decimal(number.replace(",", "").replace("_", "")) * _SUFFIXES[suffix.lower()]
    except InvalidOperation:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"not a token count: {text!r}") from None
    if value != value.to_integral_value():
        raise ValueError(f"not a whole number of tokens: {text!r} = {value}")
    return int(value)


def _price_cells(tier: PriceTier) -> tuple[str, str, str, str, str]:
    def cell(value: Decimal | None, fallback: str = "= input") -> str:
        return fallback if value is None else format_money(value)

    return (
        format_money(tier.input),
        cell(tier.cached_input),
        cell(tier.cache_write),
        cell(tier.cache_write_1h, "= input" if tier.cache_write is None else "= write"),
        format_money(tier.output),
    )


def _model_cell(price: ModelPrice) -> str:
    # Show aliases that are other names (deepseek-chat), not spellings or snapshots.
    spelled = price.model.replace(".", "-").lower()
    others = [
        a
        for a in price.aliases
        if a.replace(".", "-").lower() != spelled and _family(a) == a.lower()
    ]
    return f"{price.model} (= {', '.join(others)})" if others else price.model


def prices_rows(
    input_tokens: int | None,
    output_tokens: int | None,
    model: str | None = None,
    *,
    provider: str | None = None,
    table: PriceTable | None = None,
) -> list[PriceRow]:
    """The rows of the combined price table; ``cost`` is ``None`` when no volume is given.

    streamkit's override entries first (source page and the date checked), then every
    model genai-prices prices (source ``genai-prices <version>``), by provider. A
    volume is a total over many requests, priced at the base tier (uncached input and
    output); higher tiers get their own row without a cost.

    Args:
        input_tokens: an input volume, or ``None``.
        output_tokens: an output volume, or ``None``.
        model: only the model this name resolves to (aliases, snapshots, prefixes).
        provider: only this provider's models (``openai``, ``anthropic``, ``x-ai``, ...).
        table: the price table (default :meth:`PriceTable.default`).

    Raises:
        LookupError: ``model`` has no price (at ``provider``), or ``provider`` has no
            priced model.
    """
    table = table if table is not None else PriceTable.default()
    prices = table.listing(provider=provider, model=model)
    if not prices:
        if model is not None:
            where = f" at provider {provider!r}" if provider is not None else ""
            raise LookupError(f"no price for model {model!r}{where}")
        raise LookupError(f"no priced model for provider {provider!r}")
    with_cost = input_tokens is not None or output_tokens is not None
    usage = Usage(input_tokens=input_tokens or 0, output_tokens=output_tokens or 0)
    rows: list[PriceRow] = []
    for price in prices:
        base = price.base_tier
        rows.append(
            PriceRow(
                _model_cell(price),
                price.provider or "",
                *_price_cells(base),
                cost=format_money(base.cost(usage)) if with_cost else None,
                source=price.source,
                checked=price.checked.isoformat() if price.checked else "",
            )
        )
        rows.extend(
            PriceRow(
                f"  > {tier.above_input_tokens:,} input",
                "",
                *_price_cells(tier),
                cost="" if with_cost else None,
                source="",
                checked="",
                tier=True,
            )
            for tier in price.tiers
        )
    return rows


def _volumes(input_tokens: str | None, output_tokens: str | None) -> tuple[int | None, int | None]:
    return (
        None if input_tokens is None else parse_token_count(input_tokens),
        None if output_tokens is None else parse_token_count(output_tokens),
    )


def prices_command(
    input_tokens: str | None,
    output_tokens: str | None,
    model: str | None = None,
    *,
    provider: str | None = None,
    table: PriceTable | None = None,
) -> str:
    """Render the price table as plain text, with the cost of a volume per model.

    Args:
        input_tokens: an input volume such as ``"10M"`` (see :func:`parse_token_count`),
            or ``None``.
        output_tokens: an output volume, or ``None``. With neither, no cost column.
        model: show only this model (any alias, snapshot or ``provider/`` name).
        provider: show only this provider's models.
        table: the price table (default :meth:`PriceTable.default`).

    Returns:
        The table, e.g. for ``output_tokens="10M"`` a row
        ``gpt-4.1 ... $2.00 $0.50 = input $8.00 $80.00 2026-11-21 https://...``.

    Raises:
        ValueError: a volume is not a token count.
        LookupError: ``model`` or ``provider`` has no price.
    """
    volume_in, volume_out = _volumes(input_tokens, output_tokens)
    rows = prices_rows(volume_in, volume_out, model, provider=provider, table=table)
    return grid_text(prices_grid(rows, volume_in, volume_out))


def prices_rich_table(
    input_tokens: str | None,
    output_tokens: str | None,
    model: str | None = None,
    *,
    provider: str | None = None,
    table: PriceTable | None = None,
) -> Table:
    """The same as :func:`prices_command`, as a ``rich.table.Table``.

    Raises:
        ImportError: rich is not installed (``pip install 'streamkit[cli]'``).
        ValueError: a volume is not a token count.
        LookupError: ``model`` or ``provider`` has no price.
    """
    volume_in, volume_out = _volumes(input_tokens, output_tokens)
    rows = prices_rows(volume_in, volume_out, model, provider=provider, table=table)
    return grid_rich(prices_grid(rows, volume_in, volume_out))
