"""CostTracker: what streams cost, per stream, per model and in total; budgets.

One :class:`CostTracker` is shared by any number of streams and clients (sync,
async, several threads). Each stream gets a :class:`CostAccount` from
:meth:`CostTracker.open_stream`; the stream session reports the stream's usage
to it as events arrive::

    tracker = CostTracker(budget_usd=Decimal("5"))
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(usage_so_far, pending_output_chars=120)   # may raise BudgetExceededError
    account.note(retry_event)                                 # RetryEvent / ResumeEvent
    account.close(result)                                     # or close(error=err)
    tracker.total_cost                                        # Decimal USD

Money is ``Decimal`` USD everywhere (prices from :class:`~streamkit.pricing.PriceTable`);
an optional display currency converts at a rate the user gives. A stream whose
model has no price has cost ``None`` (never 0): it is left out of the totals and
the budget, and the price table warns once (:class:`~streamkit.pricing.UnknownModelWarning`).

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
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypedDict

from streamkit.cost_report import CostReport, ModelCost, StreamCost, StreamStatus
from streamkit.errors import BudgetExceededError
from streamkit.events import DeltaEvent, ResumeEvent, RetryEvent
from streamkit.pricing import MONEY_CONTEXT, ModelPrice, PriceTable, format_money, to_decimal
from streamkit.usage import Usage, estimate_usage

if TYPE_CHECKING:
    from streamkit.result import StreamResult

__all__ = [
    "CostAccount",
    "CostReport",
    "CostTracker",
    "CostTrackerOptions",
    "ModelCost",
    "StreamCost",
    "StreamObserver",
    "StreamStatus",
]

_log = logging.getLogger("streamkit")

_BUCKETS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)
_ZERO = Decimal(0)
_EMPTY = Usage()


def _add(a: Decimal, b: Decimal) -> Decimal:
    return MONEY_CONTEXT.add(a, b)


def _sub(a: Decimal, b: Decimal) -> Decimal:
    return MONEY_CONTEXT.subtract(a, b)


class _UsageSum:
    """Sum of many usages, updated by replacing one stream's usage by another (O(1))."""

    __slots__ = ("estimated", "known", "sums")

    def __init__(self) -> None:
        self.sums = [0] * len(_BUCKETS)
        self.known = [0] * len(_BUCKETS)
        self.estimated = 0

    def replace(self, old: Usage | None, new: Usage | None) -> None:
        for usage, sign in ((old, -1), (new, 1)):
            if usage is None:
                continue
            for i, name in enumerate(_BUCKETS):
                value = getattr(usage, name)
                if value is not None:
                    self.sums[i] += sign * value
                    self.known[i] += sign
            if usage.estimated:
                self.estimated += sign

    def usage(self) -> Usage:
        fields = {
            name: (self.sums[i] if self.known[i] else None) for i, name in enumerate(_BUCKETS)
        }
        return Usage(**fields, estimated=self.estimated > 0)


class _ModelTotals:
    __slots__ = ("cost", "estimated_streams", "price", "running", "streams", "usage")

    def __init__(self, price: ModelPrice | None) -> None:
        self.price = price
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
    ``StreamAccount`` protocol (:meth:`record`, :attr:`cost`) plus :meth:`note`
    and :meth:`close`.
    """

    def __init__(
        self,
        tracker: CostTracker,
        *,
        stream_id: int,
        model: str,
        provider: str,
        price: ModelPrice | None,
        prompt_chars: int,
    ) -> None:
        self._tracker = tracker
        self.stream_id = stream_id
        """Number of the stream in its tracker (1, 2, ...)."""
        self.model = model
        """The model name requested."""
        self.provider = provider
        """The provider dialect (``openai-chat``, ``anthropic-messages``, ...)."""
        self.price = price
        """The price-table entry of :attr:`model`, ``None`` when unknown."""
        self.prompt_chars = prompt_chars
        """Characters of the request's messages (for the running estimate)."""
        self._usage: Usage | None = None
        self._cost: Decimal | None = None if price is None else _ZERO
        self._running: Decimal | None = self._cost
        self._status: StreamStatus = "open"
        self._retries = 0
        self._resumes = 0
        self._result: StreamResult | None = None
        self._error: BaseException | None = None

    # ---- the session's interface --------------------------------------------------------

    def record(self, usage: Usage | None, *, pending_output_chars: int = 0) -> None:
        """Record the stream's usage so far and check the budgets.

        Args:
            usage: the stream's usage over ALL its attempts so far (it replaces the
                previous record; it is not added), or ``None`` when nothing is known.
            pending_output_chars: characters of output received in the current
                attempt that no reported usage covers yet. For the budget check they
                count as ``ceil(chars / 4)`` output tokens plus the request's
                ``ceil(prompt_chars / 4)`` input tokens
                (:func:`~streamkit.usage.estimate_usage`); they are not part of
                :attr:`cost`.

        Raises:
            BudgetExceededError: the running cost (every other stream of the
                tracker plus this one, estimates included) exceeds
                ``budget_usd``, or this stream's running cost exceeds
                ``per_stream_budget_usd``. The usage is recorded all the same: it
                was spent.
            ValueError: ``pending_output_chars`` is negative.
        """
        if pending_output_chars < 0:
            raise ValueError("pending_output_chars must be >= 0")
        cost, running = self._costs(usage, pending_output_chars)
        error = self._tracker._update(self, usage, cost, running, check=True)
        if error is not None:
            raise error

    @property
    def cost(self) -> Decimal | None:
        """USD cost of the recorded usage (all attempts), ``None`` when the price is unknown."""
        return self._cost

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

        ``result.usage``, when given and different, replaces the recorded usage
        (no budget check: the stream is over). The estimate of pending output is
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
        cost, running = self._costs(usage, 0)
        tracker._update(self, usage, cost, running, check=False)
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
    def usage(self) -> Usage | None:
        """The recorded usage over all attempts (``None`` before any record)."""
        return self._usage

    @property
    def running_cost(self) -> Decimal | None:
        """USD cost including the estimate of pending output (what budgets check)."""
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

    def _costs(
        self, usage: Usage | None, pending_chars: int
    ) -> tuple[Decimal | None, Decimal | None]:
        price = self.price
        if price is None:
            return None, None
        base = usage if usage is not None else _EMPTY
        cost = price.cost(base)
        if not pending_chars:
            return cost, cost
        estimate = estimate_usage(self.prompt_chars, pending_chars)
        return cost, price.cost(base + estimate)

    def report(self) -> StreamCost:
        """This stream as a :class:`StreamCost` row."""
        with self._tracker._lock:
            return self._report_locked()

    def _report_locked(self) -> StreamCost:
        result = self._result
        error = self._error
        return StreamCost(
            stream_id=self.stream_id,
            model=self.model,
            provider=self.provider,
            price_model=self.price.model if self.price is not None else None,
            status=self._status,
            usage=self._usage,
            cost_usd=self._cost,
            display_cost=self._tracker.to_display(self._cost),
            estimated=self._usage is not None and self._usage.estimated,
            retries=self._retries,
            resumes=self._resumes,
            attempts=result.attempts if result is not None else 1 + self._retries,
            response_model=result.model if result is not None else None,
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
    currency: str
    exchange_rate: Decimal | int | str | None
    keep_streams: int


class CostTracker:
    """Accounts for the usage and cost of streams; enforces money budgets.

    Shared by any number of streams and clients, from any thread or task.

    Args:
        prices: the price table (default :meth:`PriceTable.default`).
        budget_usd: stop any stream as soon as the running cost of all streams
            would exceed this many USD (``Decimal``, ``int`` or ``str``).
        per_stream_budget_usd: stop a stream as soon as its own running cost
            would exceed this many USD.
        currency: display currency code for :attr:`CostAccount.display_cost` and
            the report (``"USD"`` by default; USD stays the canonical unit).
        exchange_rate: units of ``currency`` per 1 USD (required when ``currency``
            is not USD; e.g. ``Decimal("1")`` for a relay billing 1 CNY per USD).
        keep_streams: how many of the most recent streams the report lists one by
            one (older ones still count in the per-model and total figures);
            bounds memory for long-running processes. ``0`` lists none.

    Raises:
        ValueError: a negative budget or rate, ``keep_streams < 0``, or a
            non-USD ``currency`` without ``exchange_rate``.
    """

    def __init__(
        self,
        prices: PriceTable | None = None,
        *,
        budget_usd: Decimal | int | str | None = None,
        per_stream_budget_usd: Decimal | int | str | None = None,
        currency: str = "USD",
        exchange_rate: Decimal | int | str | None = None,
        keep_streams: int = 1000,
    ) -> None:
        self._prices = prices if prices is not None else PriceTable.default()
        self._budget = self._money(budget_usd, "budget_usd")
        self._stream_budget = self._money(per_stream_budget_usd, "per_stream_budget_usd")
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
        self._currency = currency
        self._rate = rate
        self._lock = threading.Lock()
        self._next_id = 0
        self._total = _ZERO
        self._running_total = _ZERO
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

    def open_stream(self, model: str, provider: str, *, prompt_chars: int = 0) -> CostAccount:
        """Open the account of a new logical stream.

        Args:
            model: the model name requested (looked up in the price table; an
                unknown model warns once and costs ``None``).
            provider: the provider dialect name (``openai-chat``, ...).
            prompt_chars: characters of the request's messages, used to estimate the
                input of an attempt while no usage covers it (optional).

        Raises:
            BudgetExceededError: ``budget_usd`` is already used up (the running
                cost of all streams is at or above it), so no stream may start.

        Warns:
            UnknownModelWarning: the model has no price (once per model per table).
        """
        price = self._prices.price_or_warn(model, stacklevel=2)
        with self._lock:
            budget = self._budget
            if budget is not None and self._running_total >= budget:
                raise BudgetExceededError(
                    f"budget_usd={format_money(budget)} is used up "
                    f"({format_money(self._running_total)} spent); no new stream may start",
                    budget_usd=budget,
                    spent_usd=self._running_total,
                )
            self._next_id += 1
            account = CostAccount(
                self,
                stream_id=self._next_id,
                model=model,
                provider=provider,
                price=price,
                prompt_chars=max(prompt_chars, 0),
            )
            totals = self._models.get(model)
            if totals is None:
                totals = self._models[model] = _ModelTotals(price)
            totals.streams += 1
            if self._recent.maxlen:
                self._recent.append(account)
        self._notify("stream_opened", account)
        return account

    def _update(
        self,
        account: CostAccount,
        usage: Usage | None,
        cost: Decimal | None,
        running: Decimal | None,
        *,
        check: bool,
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
            if cost is not None and running is not None:
                old_cost = account._cost if account._cost is not None else _ZERO
                old_running = account._running if account._running is not None else _ZERO
                self._total = _add(_sub(self._total, old_cost), cost)
                self._running_total = _add(_sub(self._running_total, old_running), running)
                totals.cost = _add(_sub(totals.cost, old_cost), cost)
                totals.running = _add(_sub(totals.running, old_running), running)
            account._usage = usage
            account._cost = cost
            account._running = running
            if not check:
                return None
            budget = self._budget
            if budget is not None and self._running_total > budget:
                return BudgetExceededError(
                    f"budget_usd={format_money(budget)} would be exceeded: "
                    f"{format_money(self._running_total)} spent over all streams "
                    f"(stream {account.stream_id}, {account.model})",
                    budget_usd=budget,
                    spent_usd=self._running_total,
                )
            stream_budget = self._stream_budget
            if stream_budget is not None and running is not None and running > stream_budget:
                return BudgetExceededError(
                    f"per_stream_budget_usd={format_money(stream_budget)} would be exceeded "
                    f"by stream {account.stream_id} ({account.model}): {format_money(running)}",
                    budget_usd=stream_budget,
                    spent_usd=running,
                )
            return None

    # ---- observers ------------------------------------------------------------------------

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
        """``budget_usd`` minus the running cost (never below 0), ``None`` without a budget."""
        if self._budget is None:
            return None
        return max(_sub(self._budget, self._running_total), _ZERO)

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
                model: (t.cost if t.price is not None else None)
                for model, t in self._models.items()
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
                    price_model=t.price.model if t.price is not None else None,
                    streams=t.streams,
                    usage=t.usage.usage(),
                    cost_usd=t.cost if t.price is not None else None,
                    display_cost=self.to_display(t.cost) if t.price is not None else None,
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
                remaining_usd=(
                    None
                    if self._budget is None
                    else max(_sub(self._budget, self._running_total), _ZERO)
                ),
                stream_count=self._next_id,
                unpriced_models=[m for m, t in self._models.items() if t.price is None],
                models=models,
                streams=streams,
            )

    def __repr__(self) -> str:
        return (
            f"CostTracker(total_cost={self._total!r}, streams={self._next_id}, "
            f"budget_usd={self._budget!r})"
        )
