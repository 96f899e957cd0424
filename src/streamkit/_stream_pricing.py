"""How one stream is priced: which model's price, what the usage costs, what is estimated.

A :class:`StreamPricing` starts from the model the request names and switches to the
model the response names as soon as that one has a price (a ``gpt-4.1`` request
answered by ``gpt-4o-2024-08-06`` is billed as gpt-4o). It computes the exact cost
of reported usage (cached: the same usage is priced once) and, separately, a cheap
linear estimate of what is not reported yet: the prompt and the output pieces of
the current attempt, at the tier's per-token prices. Budgets check the sum.

:class:`UntrackedAccount` is the account of a stream without a tracker: it only
prices, lazily, so that ``result.cost`` is known without a
:class:`~streamkit.CostTracker`.

Pure; the one clock read is the time the prices apply to (``datetime.now(UTC)`` when
the stream opens, unless given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from streamkit.estimation import (
    ASCII_CHARS_PER_TOKEN,
    OutputEstimate,
    TokenEstimator,
    estimate_prompt_tokens,
    estimate_tokens,
)
from streamkit.pricing import MONEY_CONTEXT, CostBasis, PriceMatch, PriceTable
from streamkit.usage import Usage, nonstandard_tier

if TYPE_CHECKING:
    from streamkit.events import DeltaEvent
    from streamkit.result import StreamResult

__all__ = ["StreamPricing", "UntrackedAccount", "request_max_tokens", "requested_tier"]

_EMPTY = Usage()
_MAX_TOKENS_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def request_max_tokens(params: Mapping[str, Any] | None) -> int | None:
    """The output limit a request sets, or ``None``.

    ``max_tokens``, ``max_completion_tokens`` (OpenAI), ``max_output_tokens``
    (Responses, Gemini) or ``generationConfig.maxOutputTokens`` (Gemini).
    """
    if not params:
        return None
    for key in _MAX_TOKENS_KEYS:
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    config = params.get("generationConfig")
    if isinstance(config, Mapping):
        value = config.get("maxOutputTokens")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def requested_tier(params: Mapping[str, Any] | None) -> str | None:
    """The non-standard service tier a request asks for (``flex``, ``priority``), or ``None``."""
    return nonstandard_tier((params or {}).get("service_tier"))


class StreamPricing:
    """The price of one logical stream and its estimates (see the module docstring).

    Args:
        prices: the price table.
        model: the model name requested.
        dialect: the streamkit dialect (helps pick the seller).
        api_url: the base URL of the requests, or ``None``.
        at: the time the prices apply to (default: now, UTC).
        prompt_tokens: the estimated input tokens of one attempt.
        max_tokens: the request's output limit, or ``None``.
        service_tier: the tier the request asked for (the usage's, when reported, wins).
        estimator: the token estimator for output pieces.
    """

    __slots__ = (
        "_api_url",
        "_dialect",
        "_estimate",
        "_prices",
        "at",
        "from_response",
        "match",
        "max_tokens",
        "prompt_tokens",
        "response_model",
        "service_tier",
    )

    def __init__(
        self,
        prices: PriceTable,
        *,
        model: str,
        dialect: str,
        api_url: str | None = None,
        at: datetime | None = None,
        prompt_tokens: int = 0,
        max_tokens: int | None = None,
        service_tier: str | None = None,
        estimator: TokenEstimator = estimate_tokens,
    ) -> None:
        self._prices = prices
        self._dialect = dialect
        self._api_url = api_url
        self.at = at if at is not None else datetime.now(tz=UTC)
        self.match: PriceMatch | None = prices.match(
            model, dialect=dialect, api_url=api_url, at=self.at
        )
        self.from_response = False
        self.response_model: str | None = None
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.service_tier = service_tier
        self._estimate = OutputEstimate(estimator)

    def observe_model(self, model: str | None) -> bool:
        """The response names ``model``: price by it when it has a price.

        Returns:
            True when the match changed.
        """
        if not model or model == self.response_model:
            return False
        self.response_model = model
        found = self._prices.match(model, dialect=self._dialect, api_url=self._api_url, at=self.at)
        if found is None:
            return False  # keep the requested model's price
        self.from_response = True
        changed = self.match is None or (found.model, found.data) != (
            self.match.model,
            self.match.data,
        )
        self.match = found
        return changed

    def cost(self, usage: Usage | None) -> Decimal | None:
        """Exact USD cost of ``usage`` (``None``: no price)."""
        match = self.match
        if match is None:
            return None
        return match.cost(usage if usage is not None else _EMPTY, service_tier=self.service_tier)

    def pending_tokens(self, pieces: Sequence[str], chars: int = 0) -> int:
        """Estimated tokens of output no usage covers: ``pieces`` plus ``chars`` at 4/token."""
        tokens = self._estimate.tokens(pieces) if pieces else 0
        return tokens + -(-chars // ASCII_CHARS_PER_TOKEN)

    def estimate_cost(self, usage: Usage | None, pending: int) -> Decimal:
        """USD of one more attempt's prompt and ``pending`` output tokens (linear, per token).

        At the tier the known input tokens (or the prompt estimate) select; ``0`` without
        a price or without pending output.
        """
        match = self.match
        if match is None or not pending:
            return Decimal(0)
        known = usage.input_tokens if usage is not None else None
        tier = match.price.tier_for(known if known is not None else self.prompt_tokens)
        ctx = MONEY_CONTEXT
        total = ctx.add(
            ctx.multiply(tier.input, self.prompt_tokens), ctx.multiply(tier.output, pending)
        )
        return total.scaleb(-6, ctx)

    def reservation(self) -> Decimal | None:
        """USD of the worst case of one attempt: the prompt estimate and ``max_tokens`` output.

        ``None`` without a price or without ``max_tokens``.
        """
        if self.match is None or self.max_tokens is None:
            return None
        worst = Usage(input_tokens=self.prompt_tokens, output_tokens=self.max_tokens)
        return self.match.cost(worst, service_tier=self.service_tier)

    def estimate(self, pieces: Sequence[str]) -> Usage:
        """The estimated usage of an attempt that broke before its usage: prompt + ``pieces``."""
        output = self.pending_tokens(pieces)
        return Usage(
            input_tokens=self.prompt_tokens,
            output_tokens=output,
            total_tokens=self.prompt_tokens + output,
            estimated=True,
        )

    def basis(self, usage: Usage | None = None) -> CostBasis | None:
        """Which model, provider, source and data priced the stream (``None``: no price)."""
        if self.match is None:
            return None
        tier = (usage.service_tier if usage is not None else None) or self.service_tier
        return self.match.basis(from_response=self.from_response, service_tier=tier)

    @classmethod
    def for_request(
        cls,
        prices: PriceTable,
        *,
        model: str,
        dialect: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        params: Mapping[str, Any] | None = None,
        prompt_chars: int = 0,
        api_url: str | None = None,
        at: datetime | None = None,
        estimator: TokenEstimator | None = None,
    ) -> StreamPricing:
        """Price a request: its prompt estimate, ``max_tokens`` and service tier from it.

        Without ``messages``, the prompt is ``ceil(prompt_chars / 4)`` tokens.
        """
        estimator = estimator if estimator is not None else estimate_tokens
        if messages is not None:
            prompt = estimate_prompt_tokens(messages, params, estimator=estimator)
        else:
            prompt = math.ceil(max(prompt_chars, 0) / ASCII_CHARS_PER_TOKEN)
        return cls(
            prices,
            model=model,
            dialect=dialect,
            api_url=api_url,
            at=at,
            prompt_tokens=prompt,
            max_tokens=request_max_tokens(params),
            service_tier=requested_tier(params),
            estimator=estimator,
        )


class UntrackedAccount:
    """The account of a stream without a :class:`~streamkit.CostTracker`: prices only.

    No budgets, no totals, no warnings for unknown models (their cost is ``None``).
    Nothing is computed until :attr:`cost` is read.
    """

    __slots__ = ("_pricing", "_usage")

    def __init__(self, pricing: StreamPricing) -> None:
        self._pricing = pricing
        self._usage: Usage | None = None

    def record(
        self,
        usage: Usage | None,
        *,
        pending_output_chars: int = 0,
        pending_output: Sequence[str] = (),
        model: str | None = None,
    ) -> None:
        """Remember the usage so far and the response's model (no budget here)."""
        self._usage = usage
        self._pricing.observe_model(model)

    @property
    def cost(self) -> Decimal | None:
        """USD cost of the recorded usage, ``None`` when the model has no price."""
        return self._pricing.cost(self._usage)

    @property
    def cost_basis(self) -> CostBasis | None:
        """Where the price came from (``None``: no price)."""
        return self._pricing.basis(self._usage)

    def estimate(self, pending_output: Sequence[str]) -> Usage:
        """The estimated usage of a broken attempt (see :meth:`StreamPricing.estimate`)."""
        return self._pricing.estimate(pending_output)

    def note(self, event: DeltaEvent) -> None:
        """Retries and resumes are not counted without a tracker."""

    def close(self, result: StreamResult | None = None, error: BaseException | None = None) -> None:
        """Take the final usage and model from ``result``."""
        if result is not None:
            if result.usage is not None:
                self._usage = result.usage
            self._pricing.observe_model(result.model)

    def __repr__(self) -> str:
        match = self._pricing.match
        return f"UntrackedAccount(model={match.model if match else None!r})"
