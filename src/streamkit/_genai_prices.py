"""The bridge to ``genai-prices``: find a model, convert usage, read its prices.

``genai-prices`` (https://github.com/pydantic/genai-prices) is the price data of
streamkit: thousands of models across dozens of providers, with tiers, cache
read/write prices (5-minute and 1-hour), audio/image tokens, per-search fees,
service-tier variants and price history, offline from its bundled snapshot (or a
newer one its ``UpdatePrices`` fetched). This module is the one place that speaks
its API (``calc_price``, ``ModelInfo.calc_price``/``get_prices``, the snapshot's
provider list); :mod:`streamkit.pricing` builds on it.

No I/O: the bundled snapshot is Python data. genai-prices is imported on first use
(its package imports ``httpx2`` for ``UpdatePrices``, ~0.2 s), so that importing
streamkit's core loads no HTTP library.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from streamkit.usage import Usage

if TYPE_CHECKING:
    from genai_prices import types as gp

__all__ = [
    "GenaiModel",
    "data_version",
    "find",
    "iter_models",
    "price_context",
    "pricing_url",
    "total_price",
    "view_fields",
]

#: streamkit bucket -> genai-prices usage key (sub-buckets are part of their parent in
#: both: ``cache_read_tokens`` of ``input_tokens``, ``cache_write_1h_tokens`` of
#: ``cache_write_tokens``, ...).
_USAGE_KEYS = {
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "input_image_tokens": "input_image_tokens",
    "reasoning_tokens": "output_reasoning_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "output_image_tokens": "output_image_tokens",
    "web_searches": "web_searches",
}
_OUTPUT_PARTS = ("reasoning_tokens", "output_audio_tokens", "output_image_tokens")


@dataclass(frozen=True, slots=True)
class GenaiModel:
    """A model found in genai-prices, with the provider that sells it."""

    model: gp.ModelInfo
    provider: gp.Provider


def data_version() -> str:
    """``"genai-prices <version>"``, plus the snapshot time when it was auto-updated."""
    import genai_prices
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    version = f"genai-prices {genai_prices.__version__}"
    if snapshot.from_auto_update:
        version += f" (updated {snapshot.timestamp.isoformat(timespec='seconds')})"
    return version


_CACHE: dict[tuple[str, str | None, str | None], GenaiModel | None] = {}
_CACHE_LIMIT = 4096
_CACHE_LOCK = threading.Lock()


def find(
    model_ref: str, *, provider_id: str | None = None, api_url: str | None = None
) -> GenaiModel | None:
    """The model ``model_ref`` names at ``provider_id`` (or the provider of ``api_url``).

    With neither, genai-prices picks the provider from the model name. ``None`` when
    nothing matches (an unknown provider or model). Results are cached.
    """
    key = (model_ref.lower(), provider_id, api_url)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    import genai_prices
    from genai_prices import types as gp

    try:
        if provider_id is not None:
            calc = genai_prices.calc_price(gp.Usage(), model_ref, provider_id=provider_id)
        else:
            calc = genai_prices.calc_price(gp.Usage(), model_ref, provider_api_url=api_url)
    except (LookupError, ValueError):  # no such provider or model
        found = None
    else:
        found = GenaiModel(calc.model, calc.provider)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def iter_models() -> Iterator[GenaiModel]:
    """Every model of every provider in the current genai-prices snapshot."""
    from genai_prices import data_snapshot

    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            yield GenaiModel(model, provider)


def price_context(service_tier: str | None) -> dict[str, str] | None:
    """The genai-prices ``price_context`` of a service tier (``batch`` is a processing mode)."""
    if not service_tier:
        return None
    if service_tier == "batch":
        return {"processing": "batch"}
    return {"service_tier": service_tier}


def _genai_usage(usage: Usage) -> gp.Usage:
    """``usage`` as a genai-prices ``Usage``, made consistent (parents >= their parts)."""
    from genai_prices import types as gp

    values: dict[str, int] = {}
    for name, key in _USAGE_KEYS.items():
        value = getattr(usage, name)
        if value:
            values[key] = value
    cache_write = usage.cache_write_tokens or 0
    if usage.cache_write_1h_tokens:
        values["cache_write_tokens"] = cache_write = max(cache_write, usage.cache_write_1h_tokens)
    input_parts = (usage.cache_read_tokens or 0) + cache_write + (usage.input_audio_tokens or 0)
    input_parts += usage.input_image_tokens or 0
    output_parts = sum(getattr(usage, name) or 0 for name in _OUTPUT_PARTS)
    values["input_tokens"] = max(usage.input_tokens or 0, input_parts)
    values["output_tokens"] = max(usage.output_tokens or 0, output_parts)
    return gp.Usage(**values)


def total_price(
    found: GenaiModel, usage: Usage, *, at: datetime, service_tier: str | None
) -> Decimal:
    """The USD price of ``usage`` on ``found`` at time ``at`` (``ModelInfo.calc_price``)."""
    calc = found.model.calc_price(
        _genai_usage(usage),
        found.provider,
        genai_request_timestamp=at,
        price_context=price_context(service_tier),
    )
    return calc.total_price


def _base_and_tiers(value: Any) -> tuple[Decimal | None, dict[int, Decimal]]:
    from genai_prices import types as gp

    if value is None:
        return None, {}
    if isinstance(value, gp.TieredPrices):
        return value.base, {tier.start: tier.price for tier in value.tiers}
    if isinstance(value, Decimal):
        return value, {}
    return None, {}  # pragma: no cover - genai-prices validates its data


def view_fields(found: GenaiModel, at: datetime | None = None) -> dict[str, Any] | None:
    """The token prices of ``found`` at ``at`` as :class:`~streamkit.pricing.ModelPrice` fields.

    Base prices and tiers (by input tokens) of input, cache read, cache write (5 min),
    cache write (1 h) and output, USD per 1M tokens; ``None`` when the model has no
    input or output token price (an audio-hours or per-request model).
    """
    prices = found.model.get_prices(at or datetime.now(tz=UTC))
    names = {
        "input": "input_mtok",
        "cached_input": "cache_read_mtok",
        "cache_write": "cache_write_mtok",
        "cache_write_1h": "cache_write_1h_mtok",
        "output": "output_mtok",
    }
    bases: dict[str, Decimal | None] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    for field, key in names.items():
        base, extra = _base_and_tiers(getattr(prices, key, None))
        bases[field] = base
        for start, price in extra.items():
            tiers.setdefault(start, {})[field] = price
    if bases["input"] is None and bases["output"] is None:
        return None
    fields: dict[str, Any] = {
        "model": found.model.id,
        "provider": found.provider.id,
        "input": bases["input"] or Decimal(0),
        "output": bases["output"] or Decimal(0),
        "cached_input": bases["cached_input"],
        "cache_write": bases["cache_write"],
        "cache_write_1h": bases["cache_write_1h"],
        "source": data_version(),
    }
    fields["tiers"] = [
        {
            "above_input_tokens": start,
            "input": values.get("input", fields["input"]),
            "output": values.get("output", fields["output"]),
            "cached_input": values.get("cached_input", fields["cached_input"]),
            "cache_write": values.get("cache_write", fields["cache_write"]),
            "cache_write_1h": values.get("cache_write_1h", fields["cache_write_1h"]),
        }
        for start, values in sorted(tiers.items())
        if start > 0
    ]
    return fields


def pricing_url(found: GenaiModel) -> str:
    """The provider's pricing page per genai-prices, else the genai-prices repository."""
    urls = found.provider.pricing_urls
    return urls[0] if urls else "https://github.com/pydantic/genai-prices"
