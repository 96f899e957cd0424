"""Model prices: USD per million tokens, as exact ``Decimal`` money, with provenance.

Two layers decide the price of a model:

1. **Overrides**: a :class:`PriceTable` of :class:`ModelPrice` entries, each naming
   its ``source`` and the date it was ``checked``. streamkit ships the prices it
   verified where the data below is behind (``streamkit/prices.json``: DeepSeek);
   add your own (:meth:`PriceTable.with_prices`, :meth:`PriceTable.load`) and map
   Azure deployment names to models (:meth:`PriceTable.with_deployments`).
2. **genai-prices** (https://github.com/pydantic/genai-prices), a dependency: every
   other model it knows (thousands, dozens of providers), with tiers, cache reads and
   5-minute/1-hour cache writes, audio/image tokens, web-search fees, service-tier
   variants and price history. :meth:`PriceTable.default` uses it; tables built
   from your own entries alone do not (``genai_prices=True`` turns it on).

:meth:`PriceTable.match` finds the price of a name: a deployment name, a dated
snapshot (``gpt-4o-2024-08-06``), a ``provider/model`` name (``openai/gpt-4.1``)
or ``models/...``. The :class:`PriceMatch` it returns prices a
:class:`~streamkit.usage.Usage` and says where its price comes from
(:class:`CostBasis`, recorded on every :class:`~streamkit.StreamResult`).

Cost of a usage at an override entry (token counts from
:class:`~streamkit.usage.Usage`, whose ``input_tokens`` include cache reads and
writes)::

    cost_usd = ( (input - cache_read - cache_write) * input_price
               + cache_read * cached_input_price
               + (cache_write - cache_write_1h) * cache_write_price
               + cache_write_1h * cache_write_1h_price
               + output * output_price ) / 1_000_000

The tier (e.g. above 200k input tokens) is chosen by ``input_tokens``. A ``None``
cached-input or cache-write price means those tokens are charged at the input
price; a ``None`` 1-hour price, at the (5-minute) cache-write price. Unknown buckets
count as 0 tokens. Override entries price tokens only; genai-prices also prices
audio/image tokens, web searches and service tiers.

An unknown model's cost is ``None`` (never 0) and emits one
:class:`UnknownModelWarning` per model name per table.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streamkit import _genai_prices
from streamkit.usage import Usage

__all__ = [
    "CostBasis",
    "ModelPrice",
    "PriceMatch",
    "PriceTable",
    "PriceTier",
    "UnknownModelWarning",
    "format_money",
    "to_decimal",
]

_log = logging.getLogger("streamkit")

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
    """USD per 1M input tokens written to the prompt cache with the default (Anthropic:
    5-minute) lifetime (``None``: the input price)."""
    cache_write_1h: Decimal | None = Field(default=None, ge=0)
    """USD per 1M input tokens written to the prompt cache for 1 hour (Anthropic: 2x
    input; ``None``: the ``cache_write`` price)."""
    output: Decimal = Field(ge=0)
    """USD per 1M output tokens (reasoning tokens included)."""

    def cost(self, usage: Usage) -> Decimal:
        """Cost in USD of ``usage`` at this tier's prices (exact ``Decimal``).

        ``None`` buckets count as 0 tokens; uncached input is clamped at 0 when a
        provider reports more cached than input tokens.
        """
        ctx = MONEY_CONTEXT
        input_tokens = usage.input_tokens or 0
        cached = usage.cache_read_tokens or 0
        written_1h = usage.cache_write_1h_tokens or 0
        written = max(usage.cache_write_tokens or 0, written_1h)  # 1h writes are part of it
        output = usage.output_tokens or 0
        uncached = max(input_tokens - cached - written, 0)
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        write_1h_price = write_price if self.cache_write_1h is None else self.cache_write_1h
        total = ctx.multiply(self.input, uncached)
        total = ctx.add(total, ctx.multiply(cached_price, cached))
        total = ctx.add(total, ctx.multiply(write_price, written - written_1h))
        total = ctx.add(total, ctx.multiply(write_1h_price, written_1h))
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
    cache_write_1h: Decimal | None = Field(default=None, ge=0)
    """USD per 1M tokens written to the cache for 1 hour (Anthropic: 2 x input;
    ``None``: the ``cache_write`` price)."""
    output: Decimal = Field(ge=0)
    """USD per 1M output tokens (reasoning tokens included)."""
    aliases: tuple[str, ...] = ()
    """Other names of the same model at the same price (API ids, dated snapshots)."""
    tiers: tuple[PriceTier, ...] = ()
    """Higher tiers by input tokens (e.g. above 200k), ascending."""
    source: str = "user"
    """Where the prices come from: the provider's pricing page URL, ``"user"``, or
    ``"genai-prices <version>"`` for a view of genai-prices data."""
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
            cache_write_1h=self.cache_write_1h,
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


PriceData = Literal["override", "genai-prices"]
"""Which layer a price came from: an override entry, or genai-prices."""


class CostBasis(BaseModel):
    """Where the price of a stream came from: which model, provider, source and data.

    Recorded on every :class:`~streamkit.StreamResult` (``result.cost_basis``) and
    cost report row, so that a bill can be traced to a price list.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    """The model whose price was used (genai-prices' id, or the override entry's name)."""
    provider: str | None = None
    """Who sells it at that price (``openai``, ``anthropic``, ``google``, ``x-ai``, ...)."""
    looked_up: str
    """The name that was looked up (e.g. the response's ``gpt-4o-2024-08-06``)."""
    from_response: bool = False
    """True when the name came from the response (the model that actually answered),
    False when it is the requested name (no response model, or it has no price)."""
    data: PriceData
    """``override`` (a :class:`PriceTable` entry) or ``genai-prices``."""
    source: str
    """The pricing page (URL), or ``"user"`` for your own override entries."""
    data_version: str | None = None
    """``"genai-prices 0.2.5"`` (plus the update time of a fetched snapshot), or the
    date an override entry was checked (ISO); ``None`` for undated user prices."""
    priced_at: datetime
    """The time the prices apply to (genai-prices keeps price history; UTC)."""
    service_tier: str | None = None
    """The non-standard service tier priced (``flex``, ``priority``, ``batch``)."""


class PriceMatch:
    """The price of one model at one time, as :meth:`PriceTable.match` found it.

    :meth:`cost` prices a usage exactly (genai-prices' ``calc_price`` for its models,
    :meth:`ModelPrice.cost` for override entries); :attr:`price` shows the token
    prices as a :class:`ModelPrice` (base tier and tiers by input tokens).
    """

    __slots__ = ("_genai", "_last", "looked_up", "price", "priced_at")

    def __init__(
        self,
        price: ModelPrice,
        *,
        looked_up: str,
        priced_at: datetime,
        genai: _genai_prices.GenaiModel | None = None,
    ) -> None:
        self.price = price
        """The token prices (USD per 1M): the override entry, or a view of genai-prices."""
        self.looked_up = looked_up
        """The name that was looked up."""
        self.priced_at = priced_at
        """The time the prices apply to."""
        self._genai = genai
        self._last: tuple[Usage, str | None, Decimal] | None = None

    @property
    def data(self) -> PriceData:
        """``override`` or ``genai-prices``."""
        return "override" if self._genai is None else "genai-prices"

    @property
    def model(self) -> str:
        """The priced model's name."""
        return self.price.model

    @property
    def provider(self) -> str | None:
        """Who sells it at this price."""
        return self.price.provider

    def cost(self, usage: Usage, *, service_tier: str | None = None) -> Decimal:
        """Cost in USD of ``usage`` (exact ``Decimal``).

        Args:
            usage: the token counts.
            service_tier: the tier to price when ``usage`` names none (genai-prices
                prices ``flex``/``priority``/``batch`` where it knows them; override
                entries have one price).
        """
        tier = usage.service_tier or service_tier
        last = self._last
        if last is not None and last[0] == usage and last[1] == tier:
            return last[2]
        if self._genai is None:
            cost = self.price.cost(usage)
        else:
            try:
                cost = _genai_prices.total_price(
                    self._genai, usage, at=self.priced_at, service_tier=tier
                )
            except ValueError as exc:  # usage genai-prices cannot price: never break a stream
                _log.warning(
                    "streamkit: genai-prices could not price %s (%s); token prices used", usage, exc
                )
                cost = self.price.cost(usage)
        self._last = (usage, tier, cost)
        return cost

    def basis(self, *, from_response: bool, service_tier: str | None = None) -> CostBasis:
        """The :class:`CostBasis` of this match."""
        genai = self._genai
        price = self.price
        if genai is None:
            source = price.source
            version = price.checked.isoformat() if price.checked is not None else None
        else:
            source = _genai_prices.pricing_url(genai)
            version = _genai_prices.data_version()
        return CostBasis(
            model=price.model,
            provider=price.provider,
            looked_up=self.looked_up,
            from_response=from_response,
            data=self.data,
            source=source,
            data_version=version,
            priced_at=self.priced_at,
            service_tier=service_tier,
        )

    def __repr__(self) -> str:
        return f"PriceMatch({self.looked_up!r} -> {self.model!r}, {self.data})"


#: Dialect -> the genai-prices provider it talks to (OpenAI-compatible chat is spoken
#: by many vendors, so it names none).
DIALECT_PROVIDERS: dict[str, str] = {
    "anthropic-messages": "anthropic",
    "gemini": "google",
    "openai-responses": "openai",
}


def _split_name(model: str) -> tuple[str, str | None, str]:
    """``(name, provider prefix, bare name)`` of a model name as given."""
    name = model.strip()
    if name.lower().startswith("models/"):
        name = name[len("models/") :]
    prefix, sep, bare = name.partition("/")
    if sep and prefix and bare:
        return name, prefix.lower(), bare
    return name, None, name


class PriceTable:
    """Prices per model: the override entries, optionally over genai-prices.

    Lookup of a model name (case-insensitive; :meth:`match`), first match wins:

    1. a deployment name (:meth:`with_deployments`) is replaced by its model;
    2. an override entry: its canonical name (``deepseek-v3.2``) or an alias
       (``deepseek-chat``), also after dropping a ``vendor/`` or ``models/`` prefix
       and a dated snapshot suffix (``gpt-4o-2024-08-06`` -> ``gpt-4o``,
       ``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``);
    3. with ``genai_prices=True``: genai-prices, at the provider a ``provider/``
       prefix names, then at the provider of ``api_url``, then at the dialect's
       provider, then wherever genai-prices finds the model.

    A snapshot priced differently from its family (e.g. ``gpt-4o-2024-05-13``)
    needs its own override entry: explicit names always win over the fallback.

    Tables are immutable: :meth:`with_prices` and :meth:`with_deployments` return
    new tables. They are safe to share between threads. Iterating a table, ``len``
    and :attr:`models` cover the override entries; :meth:`listing` covers both layers.

    Args:
        prices: the override entries. Raises ``ValueError`` on a duplicate name or an
            alias that names another model.
        deployments: deployment name -> model name (Azure OpenAI deployments, relay
            aliases), looked up before anything else.
        genai_prices: fall back to genai-prices for models without an entry
            (:meth:`default` turns it on).
    """

    def __init__(
        self,
        prices: Iterable[ModelPrice] = (),
        *,
        deployments: Mapping[str, str] | None = None,
        genai_prices: bool = False,
    ) -> None:
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
        self._deployments = {
            name.strip().lower(): model.strip() for name, model in (deployments or {}).items()
        }
        if any(not model for model in self._deployments.values()):
            raise ValueError("a deployment must name a model")
        self._genai = genai_prices
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # ---- construction ----------------------------------------------------------------

    @classmethod
    def default(cls) -> PriceTable:
        """Streamkit's override entries (``streamkit/prices.json``) over genai-prices.

        Each call returns a new table (with its own once-per-model warnings).
        """
        return cls(_default_prices(), genai_prices=True)

    @property
    def genai_prices(self) -> bool:
        """True when models without an entry fall back to genai-prices."""
        return self._genai

    @property
    def deployments(self) -> dict[str, str]:
        """Deployment name (lower case) -> model name."""
        return dict(self._deployments)

    def with_deployments(self, deployments: Mapping[str, str]) -> PriceTable:
        """Return a new table that prices these deployment names as their models.

        Azure OpenAI requests name a *deployment* (``my-gpt4o-eu``), not a model;
        ``{"my-gpt4o-eu": "gpt-4o"}`` prices it as gpt-4o (the response's model
        name, when it has a price, still wins).

        Raises:
            ValueError: an empty model name.
        """
        return PriceTable(
            self._prices.values(),
            deployments={**self._deployments, **deployments},
            genai_prices=self._genai,
        )

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
        deployments = data.get("deployments") or {}
        if not isinstance(deployments, Mapping):
            raise ValueError("'deployments' maps deployment names to model names")
        if isinstance(models, Mapping):
            entries = [_parse_entry(name, entry) for name, entry in models.items()]
        elif isinstance(models, list):
            entries = [_parse_entry(None, entry) for entry in models]
        else:
            raise ValueError("a price table needs a 'models' list or mapping")
        return cls(entries, deployments={str(k): str(v) for k, v in deployments.items()})

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
                are added (a mapping then needs at least ``input`` and ``output``,
                unless genai-prices knows the model: then the mapping overrides the
                fields it gives of genai-prices' base prices; tiers are dropped).
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
            if existing is None and not isinstance(value, ModelPrice):
                view = self._genai_view(name)  # override part of a genai-prices model
                if view is not None:
                    key = view.model.lower()
                    spelled = name.strip()
                    aliases = () if spelled.lower() == key else (spelled,)
                    existing = view.model_copy(update={"aliases": aliases, "tiers": ()})
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
        return PriceTable(entries.values(), deployments=self._deployments, genai_prices=self._genai)

    # ---- lookup ------------------------------------------------------------------------

    def match(
        self,
        model: str,
        *,
        dialect: str | None = None,
        api_url: str | None = None,
        at: datetime | None = None,
    ) -> PriceMatch | None:
        """Find the price of ``model`` (any accepted spelling; see the class docstring).

        Never warns (:meth:`price_or_warn` does).

        Args:
            model: the model name as requested or as a response named it.
            dialect: the streamkit dialect that talked to it (``anthropic-messages``
                prices at Anthropic, ``gemini`` at Google, ``openai-responses`` at
                OpenAI); helps genai-prices pick the seller.
            api_url: the base URL the request went to; genai-prices knows the API
                URLs of the providers it prices (Azure, OpenRouter, Groq, ...).
            at: the time the prices apply to (default: now, UTC).

        Returns:
            The match, or ``None`` when neither layer knows the model.
        """
        when = at if at is not None else datetime.now(tz=UTC)
        name = model.strip()
        target = self._deployments.get(name.lower())
        if target is not None:
            name = target
        key = _resolve(self._prices, self._aliases, name)
        if key is not None:
            return PriceMatch(self._prices[key], looked_up=model, priced_at=when)
        if not self._genai:
            return None
        found = self._find_genai(name, dialect=dialect, api_url=api_url)
        if found is None:
            return None
        fields = _genai_prices.view_fields(found, when)
        if fields is None:
            return None
        return PriceMatch(
            ModelPrice.model_validate(fields), looked_up=model, priced_at=when, genai=found
        )

    def _find_genai(
        self, name: str, *, dialect: str | None = None, api_url: str | None = None
    ) -> _genai_prices.GenaiModel | None:
        name, prefix, bare = _split_name(name)
        attempts: list[tuple[str, str | None, str | None]] = []
        if prefix is not None:
            attempts.append((bare, prefix, None))
        if api_url:
            attempts += [(name, None, api_url), (bare, None, api_url)]
        hint = DIALECT_PROVIDERS.get(dialect or "")
        if hint is not None:
            attempts.append((bare, hint, None))
        attempts += [(name, None, None), (bare, None, None)]
        for ref, provider, url in dict.fromkeys(attempts):
            found = _genai_prices.find(ref, provider_id=provider, api_url=url)
            if found is not None:
                return found
        return None

    def _genai_view(self, model: str) -> ModelPrice | None:
        if not self._genai:
            return None
        found = self._find_genai(model)
        fields = _genai_prices.view_fields(found) if found is not None else None
        return None if fields is None else ModelPrice.model_validate(fields)

    def resolve(self, model: str) -> str | None:
        """The canonical name ``model`` resolves to, or ``None`` when unknown."""
        found = self.match(model)
        return None if found is None else found.model

    def get(self, model: str) -> ModelPrice | None:
        """The prices of ``model`` (any accepted spelling), ``None`` when unknown.

        An override entry, or a view of genai-prices' current prices (``source``
        ``"genai-prices <version>"``). Never warns; :meth:`cost` does.
        """
        found = self.match(model)
        return None if found is None else found.price

    def price_or_warn(self, model: str, *, stacklevel: int = 2) -> ModelPrice | None:
        """Like :meth:`get`, but warn once per model name when it is unknown.

        Warns:
            UnknownModelWarning: the first time an unknown ``model`` is asked for.
        """
        price = self.get(model)
        if price is None:
            self.warn_unknown(model, stacklevel=stacklevel + 1)
        return price

    def warn_unknown(self, model: str, *, stacklevel: int = 2) -> None:
        """Emit :class:`UnknownModelWarning` for ``model`` unless this table already did."""
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

    def cost(self, model: str, usage: Usage) -> Decimal | None:
        """Cost in USD of ``usage`` on ``model`` now (exact ``Decimal``).

        Returns:
            The cost, or ``None`` when the model is unknown (never 0).

        Warns:
            UnknownModelWarning: once per unknown model name per table.
        """
        found = self.match(model)
        if found is None:
            self.warn_unknown(model, stacklevel=2)
            return None
        return found.cost(usage)

    def listing(self, *, provider: str | None = None, model: str | None = None) -> list[ModelPrice]:
        """Every price this table gives: the override entries, then genai-prices' models.

        A genai-prices model that an override entry replaces (same name, same
        provider) is left out; so are models without a token price. genai-prices'
        models come sorted by provider, then model.

        Args:
            provider: only this provider's models (``openai``, ``anthropic``, ...).
            model: only the model this name resolves to (see :meth:`match`).
        """
        if model is not None:
            found = self.get(model)
            if found is None or (provider is not None and found.provider != provider):
                return []
            return [found]
        wanted = provider.lower() if provider is not None else None
        out = [p for p in self._prices.values() if wanted is None or p.provider == wanted]
        if not self._genai:
            return out
        now = datetime.now(tz=UTC)
        views = []
        for item in _genai_prices.iter_models():
            if wanted is not None and item.provider.id != wanted:
                continue
            key = _resolve(self._prices, self._aliases, item.model.id)
            if key is not None and self._prices[key].provider in (None, item.provider.id):
                continue
            fields = _genai_prices.view_fields(item, now)
            if fields is not None:
                views.append(ModelPrice.model_validate(fields))
        views.sort(key=lambda p: (p.provider or "", p.model))
        return out + views

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __iter__(self) -> Iterator[ModelPrice]:
        return iter(self._prices.values())

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        layer = " over genai-prices" if self._genai else ""
        return f"PriceTable({len(self)} models: {', '.join(self.models)}{layer})"

    @property
    def models(self) -> tuple[str, ...]:
        """The canonical model names, in table order."""
        return tuple(p.model for p in self._prices.values())

    # ---- export ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The override entries as JSON-ready data (prices as decimal strings), loadable again."""
        data: dict[str, Any] = {
            "format": _FORMAT,
            "currency": "USD",
            "unit": "USD per 1,000,000 tokens",
            "models": [p.model_dump(mode="json") for p in self._prices.values()],
        }
        if self._deployments:
            data["deployments"] = dict(self._deployments)
        return data

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
