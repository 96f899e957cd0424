"""Model prices: USD per million tokens, as exact ``Decimal`` money.

A :class:`PriceTable` maps model names to :class:`ModelPrice` entries. The
default table ships with streamkit as ``streamkit/prices.json``; every entry
names its ``source`` (the provider's pricing page) and the date it was
``checked``. Prices change: override or extend the table from code
(:meth:`PriceTable.with_prices`) or from your own JSON file
(:meth:`PriceTable.load`).

Cost of a usage (all token counts from :class:`~streamkit.usage.Usage`, whose
``input_tokens`` include cached and cache-write tokens)::

    cost_usd = ( (input - cached - cache_write) * input_price
               + cached * cached_input_price
               + cache_write * cache_write_price
               + output * output_price ) / 1_000_000

The tier (e.g. Gemini 2.5 Pro and Claude Sonnet 4.5 above 200k input tokens) is
chosen by ``input_tokens``. A ``None`` cached-input or cache-write price means
those tokens are charged at the input price. Unknown buckets count as 0 tokens.

An unknown model's cost is ``None`` (never 0) and emits one
:class:`UnknownModelWarning` per model name per table.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streamkit.usage import Usage

__all__ = [
    "ModelPrice",
    "PriceTable",
    "PriceTier",
    "UnknownModelWarning",
    "format_money",
    "to_decimal",
]

#: Arithmetic context for money: 60 significant digits, so that sums and
#: products of token counts and prices are exact in practice (the default
#: context rounds to 28 digits).
MONEY_CONTEXT = Context(prec=60)

_MILLION = 1_000_000
_FORMAT = "streamkit-prices/1"
_DATE_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI snapshots: gpt-4o-2024-08-06
    re.compile(r"[-@]\d{8}$"),  # Anthropic: claude-sonnet-4-5-20250929, Vertex @20250929
)


class UnknownModelWarning(UserWarning):
    """A cost was asked for a model the price table does not know.

    The cost is ``None``. Emitted once per model name per :class:`PriceTable`;
    add the model with :meth:`PriceTable.with_prices`.
    """


def to_decimal(value: Decimal | int | str | float, name: str = "value") -> Decimal:
    """Convert a money amount or rate to ``Decimal`` exactly.

    A ``float`` goes through its shortest ``repr`` (``0.1`` -> ``Decimal("0.1")``),
    never through its binary value.

    Raises:
        ValueError: not a finite number.
        TypeError: not a Decimal, int, str or float (``bool`` is refused).
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise TypeError(f"{name} must be a Decimal, int or str, got {type(value).__name__}")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else value)
    except ArithmeticError:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """Format money for people: ``$80.00``, ``$4.20``, ``$0.000268``, ``12.50 CNY``.

    At least two decimals; more when the amount has them, at most 10 (rounded
    half-up). A non-zero amount never prints as zero: below ``$0.0000000001`` it
    keeps two significant digits (``$0.0000000000012``). USD gets a ``$``
    prefix, other currencies their code as a suffix. This is the one money
    formatter of streamkit: reports, the CLI and notebook views all use it.
    """
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    places = min(places, 10)
    if amount and abs(amount) < Decimal(1).scaleb(-places):
        places = 1 - amount.adjusted()  # two significant digits
    quantized = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{quantized:,.{places}f}"
    if currency == "USD":
        return f"-${text[1:]}" if text.startswith("-") else f"${text}"
    return f"{text} {currency}"


class PriceTier(BaseModel):
    """Prices of one tier, USD per 1,000,000 tokens.

    The base tier of a :class:`ModelPrice` has ``above_input_tokens=0``; a higher
    tier applies to requests whose ``input_tokens`` exceed ``above_input_tokens``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    above_input_tokens: int = Field(ge=0)
    """This tier applies when a request's input tokens are strictly more than this."""
    input: Decimal = Field(ge=0)
    """USD per 1M uncached input tokens."""
    cached_input: Decimal | None = Field(default=None, ge=0)
    """USD per 1M input tokens read from the prompt cache (``None``: the input price)."""
    cache_write: Decimal | None = Field(default=None, ge=0)
    """USD per 1M input tokens written to the prompt cache (``None``: the input price)."""
    output: Decimal = Field(ge=0)
    """USD per 1M output tokens (reasoning tokens included)."""

    def cost(self, usage: Usage) -> Decimal:
        """Cost in USD of ``usage`` at this tier's prices (exact ``Decimal``).

        ``None`` buckets count as 0 tokens; uncached input is clamped at 0 when a
        provider reports more cached than input tokens.
        """
        ctx = MONEY_CONTEXT
        input_tokens = usage.input_tokens or 0
        cached = usage.cached_input_tokens or 0
        written = usage.cache_write_tokens or 0
        output = usage.output_tokens or 0
        uncached = max(input_tokens - cached - written, 0)
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        total = ctx.multiply(self.input, uncached)
        total = ctx.add(total, ctx.multiply(cached_price, cached))
        total = ctx.add(total, ctx.multiply(write_price, written))
        total = ctx.add(total, ctx.multiply(self.output, output))
        return total.scaleb(-6, ctx)


class ModelPrice(BaseModel):
    """The prices of one model, USD per 1,000,000 tokens, with provenance.

    The top-level prices are the base tier; ``tiers`` holds higher tiers sorted
    by ``above_input_tokens``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    """The canonical model name (e.g. ``"gpt-4.1"``)."""
    provider: str | None = None
    """Who bills it: ``openai``, ``anthropic``, ``google``, ``deepseek``, ..."""
    input: Decimal = Field(ge=0)
    """USD per 1M uncached input tokens."""
    cached_input: Decimal | None = Field(default=None, ge=0)
    """USD per 1M cached input tokens (``None``: the input price)."""
    cache_write: Decimal | None = Field(default=None, ge=0)
    """USD per 1M cache-write tokens (``None``: the input price). Anthropic's
    5-minute cache write price (1.25 x input)."""
    output: Decimal = Field(ge=0)
    """USD per 1M output tokens (reasoning tokens included)."""
    aliases: tuple[str, ...] = ()
    """Other names of the same model at the same price (API ids, dated snapshots)."""
    tiers: tuple[PriceTier, ...] = ()
    """Higher tiers by input tokens (e.g. above 200k), ascending."""
    source: str = "user"
    """Where the prices come from: the provider's pricing page URL, or ``"user"``."""
    checked: date | None = None
    """When the prices were last checked against ``source``."""

    @field_validator("tiers")
    @classmethod
    def _sorted_tiers(cls, tiers: tuple[PriceTier, ...]) -> tuple[PriceTier, ...]:
        thresholds = [t.above_input_tokens for t in tiers]
        if thresholds != sorted(set(thresholds)) or 0 in thresholds:
            raise ValueError("tiers must have distinct, ascending above_input_tokens > 0")
        return tiers

    @property
    def base_tier(self) -> PriceTier:
        """The base prices as a :class:`PriceTier` (``above_input_tokens=0``)."""
        return PriceTier(
            above_input_tokens=0,
            input=self.input,
            cached_input=self.cached_input,
            cache_write=self.cache_write,
            output=self.output,
        )

    def tier_for(self, input_tokens: int | None) -> PriceTier:
        """The tier that applies to a request with ``input_tokens`` input tokens.

        ``None`` (unknown) gives the base tier.
        """
        chosen = self.base_tier
        if input_tokens is not None:
            for tier in self.tiers:
                if input_tokens > tier.above_input_tokens:
                    chosen = tier
        return chosen

    def cost(self, usage: Usage) -> Decimal:
        """Cost in USD of ``usage`` (exact ``Decimal``), tier chosen by its input tokens.

        Example:
            gpt-4.1, 14 input and 30 output tokens:
            ``(14 * 2.00 + 30 * 8.00) / 1_000_000 == Decimal("0.000268")``.
        """
        return self.tier_for(usage.input_tokens).cost(usage)


def _parse_entry(name: str | None, data: Mapping[str, Any]) -> ModelPrice:
    fields = dict(data)
    if name is not None:
        fields.setdefault("model", name)
    return ModelPrice.model_validate(fields)


def _family(name: str) -> str:
    key = name.strip().lower()
    key = key.rsplit("/", 1)[-1]  # "models/gemini-2.5-pro", "anthropic/claude-sonnet-4.5"
    for pattern in _DATE_SUFFIXES:
        key = pattern.sub("", key)
    return key


def _alias_map(entries: Mapping[str, ModelPrice]) -> dict[str, str]:
    return {a.lower(): key for key, price in entries.items() for a in price.aliases}


def _resolve(
    prices: Mapping[str, ModelPrice], aliases: Mapping[str, str], model: str
) -> str | None:
    for candidate in dict.fromkeys((model.strip().lower(), _family(model))):
        if candidate in prices:
            return candidate
        target = aliases.get(candidate)
        if target is not None:
            return target
    return None


class PriceTable:
    """Prices per model, with aliases and a lookup that understands snapshots.

    Lookup of a model name (case-insensitive), first match wins:

    1. a canonical name (``gpt-4.1``) or an alias (``deepseek-chat``);
    2. the same after dropping a ``vendor/`` or ``models/`` prefix and a dated
       snapshot suffix (``gpt-4o-2024-08-06`` -> ``gpt-4o``,
       ``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5`` -> ``claude-sonnet-4.5``).

    A snapshot priced differently from its family (e.g. ``gpt-4o-2024-05-13``)
    needs its own entry: explicit names always win over the fallback.

    Tables are immutable: :meth:`with_prices` returns a new table. They are safe
    to share between threads.

    Args:
        prices: the entries. Raises ``ValueError`` on a duplicate name or an alias
            that names another model.
    """

    def __init__(self, prices: Iterable[ModelPrice] = ()) -> None:
        self._prices: dict[str, ModelPrice] = {}
        self._aliases: dict[str, str] = {}
        for price in prices:
            key = price.model.lower()
            if key in self._prices:
                raise ValueError(f"duplicate model in price table: {price.model!r}")
            self._prices[key] = price
        for key, price in self._prices.items():
            for alias in price.aliases:
                akey = alias.lower()
                if akey == key:
                    continue
                owner = self._aliases.get(akey)
                if akey in self._prices or (owner is not None and owner != key):
                    raise ValueError(f"alias {alias!r} of {price.model!r} names another model")
                self._aliases[akey] = key
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # ---- construction ----------------------------------------------------------------

    @classmethod
    def default(cls) -> PriceTable:
        """The table shipped with streamkit (``streamkit/prices.json``).

        Each call returns a new table (with its own once-per-model warnings).
        """
        return cls(_default_prices())

    @classmethod
    def load(cls, path: str | PathLike[str]) -> PriceTable:
        """Load a table from a JSON file in the format of ``streamkit/prices.json``.

        The file holds ``{"models": [{"model": ..., "input": "2.00", ...}, ...]}``
        (or a mapping ``{"models": {"name": {...}}}``). Numbers may be JSON
        strings or numbers; both are read as exact decimals. Only the file's
        models are in the result: to extend the defaults use
        ``PriceTable.default().with_prices(PriceTable.load(path))``.

        Raises:
            OSError: the file cannot be read.
            ValueError: the file is not valid JSON or not a valid table
                (``pydantic.ValidationError`` is a ``ValueError``).
        """
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        """Parse a table from JSON text (see :meth:`load`).

        Raises:
            ValueError: invalid JSON or an invalid table.
        """
        data = json.loads(text, parse_float=Decimal)
        if not isinstance(data, Mapping):
            raise ValueError("a price table is a JSON object with a 'models' member")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceTable:
        """Build a table from decoded JSON (see :meth:`load`).

        Raises:
            ValueError: no ``models`` member or an invalid entry.
        """
        fmt = data.get("format", _FORMAT)
        if fmt != _FORMAT:
            raise ValueError(f"unsupported price table format {fmt!r} (expected {_FORMAT!r})")
        currency = data.get("currency", "USD")
        if currency != "USD":
            raise ValueError(f"price tables are in USD, got currency {currency!r}")
        models = data.get("models")
        if isinstance(models, Mapping):
            return cls(_parse_entry(name, entry) for name, entry in models.items())
        if isinstance(models, list):
            return cls(_parse_entry(None, entry) for entry in models)
        raise ValueError("a price table needs a 'models' list or mapping")

    def with_prices(
        self,
        prices: Mapping[str, ModelPrice | Mapping[str, Any]] | Iterable[ModelPrice],
    ) -> PriceTable:
        """Return a new table with ``prices`` added or overriding existing entries.

        Args:
            prices: either ``{name: ModelPrice | {field: value}}`` or an iterable of
                :class:`ModelPrice` (another :class:`PriceTable` works). A name that
                resolves to an existing entry (also through an alias or a snapshot
                name) updates that entry: a mapping overrides only the fields it
                gives (e.g. ``{"gpt-4.1": {"output": "7.50"}}``), and then, unless
                it gives ``source``, the entry's ``source`` becomes ``"user"`` and
                ``checked`` ``None``; a :class:`ModelPrice` replaces it. Other names
                are added (a mapping then needs at least ``input`` and ``output``).
                Values are USD per 1M tokens (``Decimal``, ``str`` or ``int``).

        Raises:
            ValueError: an invalid entry (``pydantic.ValidationError``) or an alias
                conflict.
        """
        items: Iterable[tuple[str, ModelPrice | Mapping[str, Any]]] = (
            prices.items() if isinstance(prices, Mapping) else ((p.model, p) for p in prices)
        )
        entries = dict(self._prices)
        for name, value in items:
            key = _resolve(entries, _alias_map(entries), name)
            existing = entries.get(key) if key is not None else None
            if isinstance(value, ModelPrice):
                if existing is not None and key is not None:
                    update: dict[str, Any] = {"model": existing.model}
                    if not value.aliases:
                        update["aliases"] = existing.aliases
                    entries[key] = value.model_copy(update=update)
                else:
                    entries[value.model.lower()] = value
                continue
            if existing is not None and key is not None:
                merged = existing.model_dump()
                merged.update(value)
                merged["model"] = existing.model
                if "source" not in value:
                    merged["source"] = "user"
                    merged["checked"] = value.get("checked")
                entries[key] = ModelPrice.model_validate(merged)
            else:
                new = _parse_entry(name, value)
                entries[new.model.lower()] = new
        return PriceTable(entries.values())

    # ---- lookup ------------------------------------------------------------------------

    def resolve(self, model: str) -> str | None:
        """The canonical name ``model`` resolves to, or ``None`` when unknown."""
        key = _resolve(self._prices, self._aliases, model)
        return None if key is None else self._prices[key].model

    def get(self, model: str) -> ModelPrice | None:
        """The prices of ``model`` (any accepted spelling), ``None`` when unknown.

        Never warns; :meth:`cost` does.
        """
        key = _resolve(self._prices, self._aliases, model)
        return None if key is None else self._prices[key]

    def price_or_warn(self, model: str, *, stacklevel: int = 2) -> ModelPrice | None:
        """Like :meth:`get`, but warn once per model name when it is unknown.

        Warns:
            UnknownModelWarning: the first time an unknown ``model`` is asked for.
        """
        price = self.get(model)
        if price is None:
            with self._lock:
                first = model not in self._warned
                self._warned.add(model)
            if first:
                warnings.warn(
                    UnknownModelWarning(
                        f"no price for model {model!r}: its cost is None, not 0; "
                        "add it with PriceTable.with_prices({...})"
                    ),
                    stacklevel=stacklevel + 1,
                )
        return price

    def cost(self, model: str, usage: Usage) -> Decimal | None:
        """Cost in USD of ``usage`` on ``model`` (exact ``Decimal``).

        Returns:
            The cost, or ``None`` when the model is unknown (never 0).

        Warns:
            UnknownModelWarning: once per unknown model name per table.
        """
        price = self.price_or_warn(model, stacklevel=2)
        return None if price is None else price.cost(usage)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __iter__(self) -> Iterator[ModelPrice]:
        return iter(self._prices.values())

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} models: {', '.join(self.models)})"

    @property
    def models(self) -> tuple[str, ...]:
        """The canonical model names, in table order."""
        return tuple(p.model for p in self._prices.values())

    # ---- export ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON-ready data (prices as decimal strings), loadable again."""
        return {
            "format": _FORMAT,
            "currency": "USD",
            "unit": "USD per 1,000,000 tokens",
            "models": [p.model_dump(mode="json") for p in self._prices.values()],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The table as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent)


_DEFAULT: tuple[ModelPrice, ...] | None = None
_DEFAULT_LOCK = threading.Lock()


def _default_prices() -> tuple[ModelPrice, ...]:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            text = resources.files("streamkit").joinpath("prices.json").read_text("utf-8")
            _DEFAULT = tuple(PriceTable.from_json(text))
        return _DEFAULT
