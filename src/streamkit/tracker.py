"""CostTracker: what streams cost, per stream, per model and in total; budgets.

One :class:`CostTracker` is shared by any number of streams and clients (sync,
async, several threads). Each stream gets a :class:`CostAccount` from
:meth:`CostTracker.open_stream`; the stream session reports the stream's usage
to it as events arrive::

    tracker = CostTracker(budget_usd=Decimal("5"))
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat",
                                  messages=messages, params={"max_tokens": 500})
    account.record(usage_so_far, pending_output=pieces, model="gpt-4.1-2025-04-14")
    account.note(retry_event)                                 # RetryEvent / ResumeEvent
    account.close(result)                                     # or close(error=err)
    tracker.total_cost                                        # Decimal USD

Money is ``Decimal`` USD everywhere (prices from :class:`~streamkit.pricing.PriceTable`,
genai-prices under streamkit's overrides); an optional display currency converts at
a rate the user gives. A stream is priced by the model its *response* names when that
one has a price, else by the requested name (:class:`~streamkit.pricing.CostBasis`
says which). A stream whose model has no price has cost ``None`` (never 0): it is left
out of the totals and the budget, and ``on_unknown_price`` decides whether that warns
(:class:`~streamkit.pricing.UnknownModelWarning`), raises, or passes silently.

Budgets, two modes:

- **running** (default): usage as it is reported, plus an estimate of the output no
  usage covers yet (:mod:`streamkit.estimation`), is checked after every piece of the
  stream; the stream that crosses the budget is stopped. Concurrent streams can
  together overshoot by what arrives between two checks.
- **reserve** (``reserve=True``): before a request starts, its worst case (the
  request's ``max_tokens`` at the output price plus the prompt estimate at the input
  price) is reserved; a stream whose reservation does not fit is refused before any
  request is sent. N concurrent streams then never spend more than the budget
  (within the prompt estimate's error; a retry re-sends the prompt). The price:
  fewer streams run at once, since each holds its worst case until it ends.

Thread- and task-safety: one ``threading.Lock`` per tracker guards every update;
the work done under it is a few additions. Nothing here blocks or does I/O.

This module is the accounting. The report models (:class:`CostReport`,
:class:`ModelCost`, :class:`StreamCost`) live in :mod:`streamkit.cost_report`
and are re-exported here; :mod:`streamkit._render` draws them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

from streamkit._stream_pricing import StreamPricing, UntrackedAccount
from streamkit.cost_report import CostReport, ModelCost, StreamCost, StreamStatus
from streamkit.errors import BudgetExceededError, ConfigurationError
from streamkit.estimation import TokenEstimator
from streamkit.events import DeltaEvent, ResumeEvent, RetryEvent
from streamkit.pricing import (
    MONEY_CONTEXT,
    CostBasis,
    ModelPrice,
    PriceMatch,
    PriceTable,
    format_money,
    to_decimal,
)
from streamkit.usage import COUNT_FIELDS, Usage

if TYPE_CHECKING:
    from streamkit.result import StreamResult

__all__ = [
    "CostAccount",
    "CostReport",
    "CostTracker",
    "CostTrackerOptions",
    "ModelCost",
    "OnUnknownPrice",
    "StreamCost",
    "StreamObserver",
    "StreamStatus",
    "open_account",
]

_log = logging.getLogger("streamkit")

OnUnknownPrice = Literal["warn", "raise", "ignore"]
"""What a tracker does with a stream whose model has no price (see :class:`CostTracker`)."""

_ZERO = Decimal(0)


def _add(a: Decimal, b: Decimal) -> Decimal:
    return MONEY_CONTEXT.add(a, b)


def _sub(a: Decimal, b: Decimal) -> Decimal:
    return MONEY_CONTEXT.subtract(a, b)


class _UsageSum:
    """Sum of many usages, updated by replacing one stream's usage by another (O(1))."""

    __slots__ = ("estimated", "known", "sums")

    def __init__(self) -> None:
        self.sums = [0] * len(COUNT_FIELDS)
        self.known = [0] * len(COUNT_FIELDS)
        self.estimated = 0

    def replace(self, old: Usage | None, new: Usage | None) -> None:
        for usage, sign in ((old, -1), (new, 1)):
            if usage is None:
                continue
            for i, name in enumerate(COUNT_FIELDS):
                value = getattr(usage, name)
                if value is not None:
                    self.sums[i] += sign * value
                    self.known[i] += sign
            if usage.estimated:
                self.estimated += sign

    def usage(self) -> Usage:
        fields: dict[str, Any] = {
            name: (self.sums[i] if self.known[i] else None) for i, name in enumerate(COUNT_FIELDS)
        }
        return Usage(**fields, estimated=self.estimated > 0)


class _ModelTotals:
    __slots__ = (
        "cost",
        "estimated_streams",
        "price_model",
        "priced_streams",
        "running",
        "streams",
        "usage",
    )

    def __init__(self) -> None:
        self.price_model: str | None = None
        self.priced_streams = 0
        self.streams = 0
        self.cost = _ZERO
        self.running = _ZERO
        self.usage = _UsageSum()
        self.estimated_streams = 0


class StreamObserver(Protocol):
    """Receives the life of every stream of a tracker (e.g. the OpenTelemetry bridge).

    Called outside the tracker's lock; an exception is logged and ignored, it
    never breaks a stream.
    """

    def stream_opened(self, account: CostAccount) -> None:
        """A stream was opened."""
        ...

    def stream_noted(self, account: CostAccount, event: RetryEvent | ResumeEvent) -> None:
        """A stream retried or resumed."""
        ...

    def stream_closed(
        self,
        account: CostAccount,
        result: StreamResult | None,
        error: BaseException | None,
    ) -> None:
        """A stream was closed (after its last usage was recorded)."""
        ...


class CostAccount:
    """The account of one logical stream (all its attempts) in a :class:`CostTracker`.

    Made by :meth:`CostTracker.open_stream`; implements the session's
    ``StreamAccount`` protocol (:meth:`record`, :attr:`cost`, :meth:`estimate`,
    :attr:`cost_basis`, :meth:`note`, :meth:`close`).
    """

    def __init__(
        self,
        tracker: CostTracker,
        *,
        stream_id: int,
        model: str,
        provider: str,
        pricing: StreamPricing,
        prompt_chars: int = 0,
    ) -> None:
        self._tracker = tracker
        self._pricing = pricing
        self.stream_id = stream_id
        """Number of the stream in its tracker (1, 2, ...)."""
        self.model = model
        """The model name requested."""
        self.provider = provider
        """The provider dialect (``openai-chat``, ``anthropic-messages``, ...)."""
        self.prompt_chars = prompt_chars
        """Characters of the request's messages, as given to :meth:`CostTracker.open_stream`."""
        self._usage: Usage | None = None
        self._cost: Decimal | None = None if pricing.match is None else _ZERO
        self._running: Decimal | None = self._cost
        self._reservation: Decimal | None = None
        self._status: StreamStatus = "open"
        self._retries = 0
        self._resumes = 0
        self._result: StreamResult | None = None
        self._error: BaseException | None = None

    # ---- the session's interface --------------------------------------------------------

    def record(
        self,
        usage: Usage | None,
        *,
        pending_output_chars: int = 0,
        pending_output: Sequence[str] = (),
        model: str | None = None,
    ) -> None:
        """Record the stream's usage so far and check the budgets.

        Args:
            usage: the stream's usage over ALL its attempts so far (it replaces the
                previous record; it is not added), or ``None`` when nothing is known.
            pending_output_chars: characters of output received in the current
                attempt that no reported usage covers yet, counted as
                ``ceil(chars / 4)`` tokens (when only a count is known).
            pending_output: the output pieces of the current attempt that no reported
                usage covers yet (the reassembler's append-only
                :attr:`~streamkit.Reassembler.attempt_output`), estimated with the
                tracker's ``token_estimator``. Pending output adds an estimate of one
                attempt (its prompt and that output) to :attr:`running_cost`, never
                to :attr:`cost`.
            model: the model the response names, when known: the stream is priced by
                it from now on if it has a price.

        Raises:
            BudgetExceededError: the running cost (every other stream of the
                tracker plus this one, estimates and reservations included) crossed
                ``budget_usd``, or this stream's running cost crossed
                ``per_stream_budget_usd``. The usage is recorded all the same: it
                was spent.
            ValueError: ``pending_output_chars`` is negative.
        """
        if pending_output_chars < 0:
            raise ValueError("pending_output_chars must be >= 0")
        pricing = self._pricing
        if model is not None:
            pricing.observe_model(model)
        pending = pricing.pending_tokens(pending_output, pending_output_chars)
        cost = pricing.cost(usage)
        running = None if cost is None else _add(cost, pricing.estimate_cost(usage, pending))
        error = self._tracker._update(self, usage, cost, running, check=True)
        if error is not None:
            raise error

    @property
    def cost(self) -> Decimal | None:
        """USD cost of the recorded usage (all attempts), ``None`` when the price is unknown."""
        return self._cost

    @property
    def cost_basis(self) -> CostBasis | None:
        """Which model, provider, price source and data priced the stream (``None``: none)."""
        return self._pricing.basis(self._usage)

    def estimate(self, pending_output: Sequence[str]) -> Usage:
        """The estimated usage of an attempt that broke before the provider reported it.

        The prompt estimate (message texts, system prompt, tools schema, images) plus
        ``pending_output`` through the tracker's ``token_estimator``; ``estimated=True``.
        """
        return self._pricing.estimate(pending_output)

    def note(self, event: DeltaEvent) -> None:
        """Note a :class:`~streamkit.events.RetryEvent` or :class:`~streamkit.events.ResumeEvent`.

        Counts them for the report and passes them to the observers (OpenTelemetry
        span events). Other events are ignored.
        """
        if not isinstance(event, RetryEvent | ResumeEvent):
            return
        with self._tracker._lock:
            if isinstance(event, RetryEvent):
                self._retries += 1
            else:
                self._resumes += 1
        self._tracker._notify("stream_noted", self, event)

    def close(self, result: StreamResult | None = None, error: BaseException | None = None) -> None:
        """Close the account: the stream ended (``result``) or failed (``error``).

        ``result.usage``, when given and different, replaces the recorded usage, and
        ``result.model`` prices the stream when it has a price (no budget check: the
        stream is over). The estimate of pending output and the reservation are
        dropped. A second call does nothing.

        Args:
            result: the final (or partial) :class:`~streamkit.result.StreamResult`;
                its metrics, model and id go to the report and to the observers.
            error: the exception the stream ended with, if any.
        """
        tracker = self._tracker
        with tracker._lock:
            if self._status != "open":
                return
        if result is not None and result.usage is not None:
            usage: Usage | None = result.usage
        else:
            usage = self._usage
        if result is not None:
            self._pricing.observe_model(result.model)
        cost = self._pricing.cost(usage)
        tracker._update(self, usage, cost, cost, check=False, closing=True)
        with tracker._lock:
            if self._status != "open":
                return
            self._result = result
            self._error = error
            if error is not None:
                self._status = "failed"
            elif result is None or result.complete:
                self._status = "complete"
            else:
                self._status = "incomplete"
        tracker._notify("stream_closed", self, result, error)

    # ---- state ----------------------------------------------------------------------------

    @property
    def price(self) -> ModelPrice | None:
        """The prices the stream is billed at (the response model's when known), or ``None``."""
        match = self._pricing.match
        return None if match is None else match.price

    @property
    def match(self) -> PriceMatch | None:
        """The :class:`~streamkit.pricing.PriceMatch` the stream is billed by, or ``None``."""
        return self._pricing.match

    @property
    def response_model(self) -> str | None:
        """The model name the response gave, once known."""
        return self._pricing.response_model

    @property
    def prompt_tokens(self) -> int:
        """The estimated input tokens of one attempt."""
        return self._pricing.prompt_tokens

    @property
    def max_tokens(self) -> int | None:
        """The request's output limit, if it set one."""
        return self._pricing.max_tokens

    @property
    def reservation_usd(self) -> Decimal | None:
        """USD reserved for this stream before it started (``reserve=True``), else ``None``."""
        return self._reservation

    @property
    def usage(self) -> Usage | None:
        """The recorded usage over all attempts (``None`` before any record)."""
        return self._usage

    @property
    def running_cost(self) -> Decimal | None:
        """USD cost including the estimate of pending output."""
        return self._running

    @property
    def display_cost(self) -> Decimal | None:
        """:attr:`cost` in the tracker's display currency."""
        return self._tracker.to_display(self._cost)

    @property
    def status(self) -> StreamStatus:
        """``open``, ``complete``, ``incomplete`` or ``failed``."""
        return self._status

    @property
    def retries(self) -> int:
        """Retry events noted."""
        return self._retries

    @property
    def resumes(self) -> int:
        """Resume events noted."""
        return self._resumes

    @property
    def result(self) -> StreamResult | None:
        """The result given to :meth:`close`."""
        return self._result

    @property
    def error(self) -> BaseException | None:
        """The error given to :meth:`close`."""
        return self._error

    def _extra(self) -> Decimal:
        """What the reservation holds beyond the running cost (0 without one)."""
        if self._reservation is None:
            return _ZERO
        running = self._running if self._running is not None else _ZERO
        return max(_sub(self._reservation, running), _ZERO)

    def report(self) -> StreamCost:
        """This stream as a :class:`StreamCost` row."""
        with self._tracker._lock:
            return self._report_locked()

    def _report_locked(self) -> StreamCost:
        result = self._result
        error = self._error
        basis = self.cost_basis
        return StreamCost(
            stream_id=self.stream_id,
            model=self.model,
            provider=self.provider,
            price_model=basis.model if basis is not None else None,
            cost_basis=basis,
            status=self._status,
            usage=self._usage,
            cost_usd=self._cost,
            display_cost=self._tracker.to_display(self._cost),
            estimated=self._usage is not None and self._usage.estimated,
            reservation_usd=self._reservation,
            retries=self._retries,
            resumes=self._resumes,
            attempts=result.attempts if result is not None else 1 + self._retries,
            response_model=result.model if result is not None else self.response_model,
            response_id=result.response_id if result is not None else None,
            finish_reason=result.finish_reason if result is not None else None,
            error=f"{type(error).__name__}: {error}"[:300] if error is not None else None,
            metrics=result.metrics if result is not None else None,
        )

    def __repr__(self) -> str:
        return (
            f"CostAccount(stream_id={self.stream_id}, model={self.model!r}, "
            f"status={self._status!r}, cost={self._cost!r})"
        )


class CostTrackerOptions(TypedDict, total=False):
    """The keyword options of :class:`CostTracker`, for subclasses that forward them.

    ``def __init__(self, prices=None, *, extra=..., **options: Unpack[CostTrackerOptions])``
    keeps a subclass's signature typed without repeating every keyword (see
    :class:`~streamkit.otel.OTelTracker`). Documented on :class:`CostTracker`.
    """

    budget_usd: Decimal | int | str | None
    per_stream_budget_usd: Decimal | int | str | None
    reserve: bool
    on_unknown_price: OnUnknownPrice
    token_estimator: TokenEstimator | None
    currency: str
    exchange_rate: Decimal | int | str | None
    keep_streams: int


_UNKNOWN_MODES = ("warn", "raise", "ignore")


class CostTracker:
    """Accounts for the usage and cost of streams; enforces money budgets.

    Shared by any number of streams and clients, from any thread or task.

    Args:
        prices: the price table (default :meth:`PriceTable.default`: streamkit's
            overrides over genai-prices).
        budget_usd: stop any stream as soon as the running cost of all streams
            crosses this many USD (``Decimal``, ``int`` or ``str``).
        per_stream_budget_usd: stop a stream as soon as its own running cost
            crosses this many USD.
        reserve: reserve each stream's worst case (``max_tokens`` at the output
            price plus the prompt estimate) against the budgets before it starts,
            and refuse a stream whose reservation does not fit: concurrent streams
            then never spend more than ``budget_usd`` together. Needs a budget and
            ``max_tokens`` (or ``max_completion_tokens``/``max_output_tokens``) on
            every request. See the module docstring for the trade-off.
        on_unknown_price: a stream whose model has no price (its cost is ``None``
            and it does not count against budgets): ``"warn"`` warns once per model
            (:class:`~streamkit.pricing.UnknownModelWarning`), ``"ignore"`` says
            nothing, ``"raise"`` refuses to start it
            (:class:`~streamkit.errors.ConfigurationError`), so that no stream runs
            outside the budget.
        token_estimator: estimates tokens of text no usage covers yet (default
            :func:`streamkit.estimation.estimate_tokens`, weighted by script).
        currency: display currency code for :attr:`CostAccount.display_cost` and
            the report (``"USD"`` by default; USD stays the canonical unit).
        exchange_rate: units of ``currency`` per 1 USD (required when ``currency``
            is not USD; e.g. ``Decimal("1")`` for a relay billing 1 CNY per USD).
        keep_streams: how many of the most recent streams the report lists one by
            one (older ones still count in the per-model and total figures);
            bounds memory for long-running processes. ``0`` lists none.

    Raises:
        ValueError: a negative budget or rate, ``keep_streams < 0``, a non-USD
            ``currency`` without ``exchange_rate``, an unknown ``on_unknown_price``,
            or ``reserve=True`` without a budget.
    """

    def __init__(
        self,
        prices: PriceTable | None = None,
        *,
        budget_usd: Decimal | int | str | None = None,
        per_stream_budget_usd: Decimal | int | str | None = None,
        reserve: bool = False,
        on_unknown_price: OnUnknownPrice = "warn",
        token_estimator: TokenEstimator | None = None,
        currency: str = "USD",
        exchange_rate: Decimal | int | str | None = None,
        keep_streams: int = 1000,
    ) -> None:
        self._prices = prices if prices is not None else PriceTable.default()
        self._budget = self._money(budget_usd, "budget_usd")
        self._stream_budget = self._money(per_stream_budget_usd, "per_stream_budget_usd")
        if on_unknown_price not in _UNKNOWN_MODES:
            raise ValueError(
                f"on_unknown_price must be one of {', '.join(_UNKNOWN_MODES)}, "
                f"got {on_unknown_price!r}"
            )
        if reserve and self._budget is None and self._stream_budget is None:
            raise ValueError("reserve=True needs budget_usd or per_stream_budget_usd")
        currency = currency.strip().upper()
        if not currency:
            raise ValueError("currency must be a currency code such as 'USD' or 'CNY'")
        if exchange_rate is None:
            if currency != "USD":
                raise ValueError(
                    f"currency={currency!r} needs exchange_rate= (units of {currency} per 1 USD)"
                )
            rate = Decimal(1)
        else:
            rate = to_decimal(exchange_rate, "exchange_rate")
            if rate <= 0:
                raise ValueError("exchange_rate must be > 0")
        if keep_streams < 0:
            raise ValueError("keep_streams must be >= 0")
        self._reserve = reserve
        self._on_unknown: OnUnknownPrice = on_unknown_price
        self._estimator = token_estimator
        self._currency = currency
        self._rate = rate
        self._lock = threading.Lock()
        self._next_id = 0
        self._total = _ZERO
        self._running_total = _ZERO
        self._reserved_extra = _ZERO  # sum over open streams of max(0, reservation - running)
        self._models: dict[str, _ModelTotals] = {}
        self._recent: deque[CostAccount] = deque(maxlen=keep_streams)
        self._observers: tuple[StreamObserver, ...] = ()

    @staticmethod
    def _money(value: Decimal | int | str | None, name: str) -> Decimal | None:
        if value is None:
            return None
        amount = to_decimal(value, name)
        if amount < 0:
            raise ValueError(f"{name} must be >= 0")
        return amount

    # ---- streams ------------------------------------------------------------------------

    def open_stream(
        self,
        model: str,
        provider: str,
        *,
        prompt_chars: int = 0,
        messages: Sequence[Mapping[str, Any]] | None = None,
        params: Mapping[str, Any] | None = None,
        api_url: str | None = None,
        requested_at: datetime | None = None,
    ) -> CostAccount:
        """Open the account of a new logical stream.

        Args:
            model: the model name requested (looked up in the price table; the
                response's model replaces it once known and priced).
            provider: the provider dialect name (``openai-chat``, ...).
            prompt_chars: characters of the request's messages, used to estimate the
                prompt (``ceil(chars / 4)`` tokens) when ``messages`` is not given.
            messages: the request's messages: the prompt estimate counts their texts,
                the system prompt and tools schema in ``params``, and images
                (:func:`~streamkit.estimation.estimate_prompt_tokens`).
            params: the request's extra parameters (``max_tokens`` for reservations,
                ``service_tier``, ``system``, ``tools``, ...).
            api_url: the base URL the requests go to (helps pick the seller's price:
                Azure, OpenRouter, ...).
            requested_at: the time prices apply to (default: now, UTC).

        Raises:
            BudgetExceededError: ``budget_usd`` is already used up (running mode), or
                this stream's reservation would cross a budget (``reserve=True``);
                no stream may start.
            ConfigurationError: the model has no price and
                ``on_unknown_price="raise"``, or ``reserve=True`` and the request
                sets no ``max_tokens``.

        Warns:
            UnknownModelWarning: the model has no price and ``on_unknown_price="warn"``
                (once per model per table).
        """
        pricing = StreamPricing.for_request(
            self._prices,
            model=model,
            dialect=provider,
            messages=messages,
            params=params,
            prompt_chars=prompt_chars,
            api_url=api_url,
            at=requested_at,
            estimator=self._estimator,
        )
        reservation: Decimal | None = None
        if pricing.match is None:
            if self._on_unknown == "raise":
                raise ConfigurationError(
                    f"no price for model {model!r} and on_unknown_price='raise': the stream "
                    "could not count against the budget; add it with PriceTable.with_prices()"
                )
            if self._on_unknown == "warn":
                self._prices.warn_unknown(model, stacklevel=2)
        elif self._reserve:
            reservation = pricing.reservation()
            if reservation is None:
                raise ConfigurationError(
                    "reserve=True needs max_tokens (or max_completion_tokens/"
                    f"max_output_tokens) on every request; the {model!r} request has none"
                )
        with self._lock:
            self._check_open(model, reservation)
            self._next_id += 1
            account = CostAccount(
                self,
                stream_id=self._next_id,
                model=model,
                provider=provider,
                pricing=pricing,
                prompt_chars=max(prompt_chars, 0),
            )
            if reservation is not None:
                account._reservation = reservation
                self._reserved_extra = _add(self._reserved_extra, reservation)
            totals = self._models.get(model)
            if totals is None:
                totals = self._models[model] = _ModelTotals()
            totals.streams += 1
            if pricing.match is not None:
                totals.priced_streams += 1
                totals.price_model = pricing.match.model
            if self._recent.maxlen:
                self._recent.append(account)
        self._notify("stream_opened", account)
        return account

    def _check_open(self, model: str, reservation: Decimal | None) -> None:
        held = _add(self._running_total, self._reserved_extra)
        budget = self._budget
        if reservation is None:
            if budget is not None and held >= budget:
                raise BudgetExceededError(
                    f"budget_usd={format_money(budget)} is used up "
                    f"({format_money(held)} spent); no new stream may start",
                    budget_usd=budget,
                    spent_usd=held,
                )
            return
        if budget is not None and _add(held, reservation) > budget:
            raise BudgetExceededError(
                f"budget_usd={format_money(budget)} would be crossed by the reservation of a "
                f"{model} stream ({format_money(reservation)}: max_tokens at the output price "
                f"plus the prompt estimate) on top of {format_money(held)} spent or reserved; "
                "no new stream may start",
                budget_usd=budget,
                spent_usd=held,
            )
        stream_budget = self._stream_budget
        if stream_budget is not None and reservation > stream_budget:
            raise BudgetExceededError(
                f"per_stream_budget_usd={format_money(stream_budget)} would be crossed by the "
                f"reservation of a {model} stream ({format_money(reservation)}); lower "
                "max_tokens or raise the budget",
                budget_usd=stream_budget,
                spent_usd=_ZERO,
            )

    def _update(
        self,
        account: CostAccount,
        usage: Usage | None,
        cost: Decimal | None,
        running: Decimal | None,
        *,
        check: bool,
        closing: bool = False,
    ) -> BudgetExceededError | None:
        with self._lock:
            if account._status != "open":
                return None
            totals = self._models[account.model]
            old_usage = account._usage
            totals.usage.replace(old_usage, usage)
            was_estimated = old_usage is not None and old_usage.estimated
            is_estimated = usage is not None and usage.estimated
            totals.estimated_streams += int(is_estimated) - int(was_estimated)
            old_extra = account._extra()
            if cost is not None and running is not None:
                match = account._pricing.match
                if account._cost is None:  # priced from now on (the response's model)
                    totals.priced_streams += 1
                if match is not None:
                    totals.price_model = match.model
                old_cost = account._cost if account._cost is not None else _ZERO
                old_running = account._running if account._running is not None else _ZERO
                self._total = _add(_sub(self._total, old_cost), cost)
                self._running_total = _add(_sub(self._running_total, old_running), running)
                totals.cost = _add(_sub(totals.cost, old_cost), cost)
                totals.running = _add(_sub(totals.running, old_running), running)
            account._usage = usage
            account._cost = cost
            account._running = running
            if closing:
                account._reservation = None  # released: the stream is over
            if old_extra or account._reservation is not None:
                self._reserved_extra = _add(_sub(self._reserved_extra, old_extra), account._extra())
            if not check:
                return None
            return self._check_running(account, running)

    def _check_running(
        self, account: CostAccount, running: Decimal | None
    ) -> BudgetExceededError | None:
        budget = self._budget
        held = _add(self._running_total, self._reserved_extra)
        if budget is not None and held > budget:
            return BudgetExceededError(
                f"budget_usd={format_money(budget)} crossed: {format_money(held)} spent over "
                f"all streams (stream {account.stream_id}, {account.model})",
                budget_usd=budget,
                spent_usd=held,
            )
        stream_budget = self._stream_budget
        if stream_budget is not None and running is not None and running > stream_budget:
            return BudgetExceededError(
                f"per_stream_budget_usd={format_money(stream_budget)} crossed by stream "
                f"{account.stream_id} ({account.model}): {format_money(running)}",
                budget_usd=stream_budget,
                spent_usd=running,
            )
        return None

    def add_observer(self, observer: StreamObserver) -> None:
        """Call ``observer`` for every stream opened from now on (and their events)."""
        with self._lock:
            self._observers = (*self._observers, observer)

    def _notify(self, method: str, *args: object) -> None:
        for observer in self._observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                _log.exception("streamkit: observer %r failed in %s", observer, method)

    # ---- totals ---------------------------------------------------------------------------

    @property
    def prices(self) -> PriceTable:
        """The price table."""
        return self._prices

    @property
    def total_cost(self) -> Decimal:
        """USD cost of the recorded usage of every stream and attempt (priced models only)."""
        return self._total

    @property
    def running_cost(self) -> Decimal:
        """:attr:`total_cost` plus the estimates of output not yet covered by usage."""
        return self._running_total

    @property
    def display_total(self) -> Decimal:
        """:attr:`total_cost` in the display currency."""
        return MONEY_CONTEXT.multiply(self._total, self._rate)

    @property
    def budget_usd(self) -> Decimal | None:
        """The budget over all streams in USD, ``None`` for none."""
        return self._budget

    @property
    def per_stream_budget_usd(self) -> Decimal | None:
        """The budget of each stream in USD, ``None`` for none."""
        return self._stream_budget

    @property
    def remaining_usd(self) -> Decimal | None:
        """``budget_usd`` minus the running cost and reservations (never below 0).

        ``None`` without a budget.
        """
        return self._remaining()

    @property
    def reserved_usd(self) -> Decimal:
        """USD the open streams' reservations hold beyond their running cost (``reserve=True``)."""
        return self._reserved_extra

    @property
    def reserve(self) -> bool:
        """True when streams reserve their worst case before they start."""
        return self._reserve

    def _remaining(self) -> Decimal | None:
        if self._budget is None:
            return None
        held = _add(self._running_total, self._reserved_extra)
        return max(_sub(self._budget, held), _ZERO)

    @property
    def currency(self) -> str:
        """The display currency code."""
        return self._currency

    @property
    def exchange_rate(self) -> Decimal:
        """Units of :attr:`currency` per 1 USD."""
        return self._rate

    @property
    def stream_count(self) -> int:
        """Streams opened so far."""
        return self._next_id

    def to_display(self, amount_usd: Decimal | None) -> Decimal | None:
        """Convert USD to the display currency (``None`` stays ``None``)."""
        if amount_usd is None:
            return None
        return MONEY_CONTEXT.multiply(amount_usd, self._rate)

    def usage_by_model(self) -> dict[str, Usage]:
        """The summed usage of every stream, per requested model name."""
        with self._lock:
            return {model: t.usage.usage() for model, t in self._models.items()}

    def cost_by_model(self) -> dict[str, Decimal | None]:
        """The USD cost per requested model name (``None`` for unpriced models)."""
        with self._lock:
            return {
                model: (t.cost if t.priced_streams else None) for model, t in self._models.items()
            }

    def streams(self) -> list[StreamCost]:
        """The most recent streams (up to ``keep_streams``), oldest first."""
        with self._lock:
            return [account._report_locked() for account in self._recent]

    def __iter__(self) -> Iterator[CostAccount]:
        """Iterate over the accounts of the most recent streams."""
        with self._lock:
            return iter(list(self._recent))

    def _repr_markdown_(self) -> str:
        """Notebook view: :meth:`report` as a Markdown table."""
        return self.report()._repr_markdown_()

    def report(self) -> CostReport:
        """A snapshot of everything as a :class:`CostReport` (JSON- and table-ready)."""
        with self._lock:
            models = [
                ModelCost(
                    model=model,
                    price_model=t.price_model,
                    streams=t.streams,
                    usage=t.usage.usage(),
                    cost_usd=t.cost if t.priced_streams else None,
                    display_cost=self.to_display(t.cost) if t.priced_streams else None,
                    estimated_streams=t.estimated_streams,
                )
                for model, t in self._models.items()
            ]
            streams = [account._report_locked() for account in self._recent]
            return CostReport(
                currency=self._currency,
                exchange_rate=self._rate,
                total_cost_usd=self._total,
                display_cost=MONEY_CONTEXT.multiply(self._total, self._rate),
                running_cost_usd=self._running_total,
                budget_usd=self._budget,
                per_stream_budget_usd=self._stream_budget,
                reserved_usd=self._reserved_extra,
                remaining_usd=self._remaining(),
                stream_count=self._next_id,
                unpriced_models=[m for m, t in self._models.items() if not t.priced_streams],
                models=models,
                streams=streams,
            )

    def __repr__(self) -> str:
        return (
            f"CostTracker(total_cost={self._total!r}, streams={self._next_id}, "
            f"budget_usd={self._budget!r})"
        )


def open_account(
    tracker: CostTracker | None,
    *,
    model: str,
    provider: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    api_url: str | None = None,
) -> CostAccount | UntrackedAccount:
    """The account of one new stream: the tracker's, or one that only prices.

    With a tracker this is :meth:`CostTracker.open_stream` (budgets, totals,
    warnings). Without one, the stream is still priced with
    :meth:`PriceTable.default` (genai-prices under streamkit's overrides), so that
    ``result.cost`` and ``result.cost_basis`` are known; an unknown model's cost is
    ``None`` and nothing warns.

    Raises:
        BudgetExceededError, ConfigurationError: as :meth:`CostTracker.open_stream`.
    """
    if tracker is not None:
        return tracker.open_stream(
            model, provider, messages=messages, params=params, api_url=api_url
        )
    pricing = StreamPricing.for_request(
        _default_prices(),
        model=model,
        dialect=provider,
        messages=messages,
        params=params,
        api_url=api_url,
    )
    return UntrackedAccount(pricing)


_DEFAULT_PRICES: PriceTable | None = None


def _default_prices() -> PriceTable:
    """One default table for every untracked stream (it is immutable and thread-safe)."""
    global _DEFAULT_PRICES
    if _DEFAULT_PRICES is None:
        _DEFAULT_PRICES = PriceTable.default()
    return _DEFAULT_PRICES
