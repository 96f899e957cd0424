"""streamkit: typed, resumable, cost-aware streaming from LLM APIs.

Quickstart::

    import streamkit as sk

    with sk.StreamingClient() as client:
        with client.stream(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]) as s:
            for text in s.text_stream:
                print(text, end="")
        print(s.result.usage)
"""

from streamkit import errors, offline, pricing, providers, sse, tracker
from streamkit._version import __version__
from streamkit.async_client import AsyncStream, AsyncStreamingClient, TaggedEvent
from streamkit.client import Stream, StreamingClient
from streamkit.config import Timeouts
from streamkit.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ChunkDecodeError,
    ConfigurationError,
    ConnectError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    QueueFullError,
    RateLimitError,
    SSEError,
    StreamInterruptedError,
    StreamkitError,
    StreamOrderError,
    StreamStalledError,
    StreamStateError,
    UnexpectedContentTypeError,
    WebSocketClosedError,
)
from streamkit.events import (
    DeltaEvent,
    FinishEvent,
    ReasoningDelta,
    RefusalDelta,
    ResumeEvent,
    RetryEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.extras import Citation, ProviderExtras, Signature, TokenLogprob
from streamkit.limiter import ConcurrencyLimiter
from streamkit.metrics import StreamMetrics
from streamkit.pricing import CostBasis, ModelPrice, PriceTable, PriceTier, UnknownModelWarning
from streamkit.reassembly import Reassembler
from streamkit.result import ChoiceResult, StreamResult, ToolCall
from streamkit.retry import RetryPolicy
from streamkit.session import ResumeMode, StreamSession
from streamkit.sse import ServerSentEvent, SSEDecoder
from streamkit.tracker import CostAccount, CostReport, CostTracker, ModelCost, StreamCost
from streamkit.transport import AsyncHTTPTransport, HTTPTransport
from streamkit.usage import Usage

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncHTTPTransport",
    "AsyncStream",
    "AsyncStreamingClient",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ChoiceResult",
    "ChunkDecodeError",
    "Citation",
    "ConcurrencyLimiter",
    "ConfigurationError",
    "ConnectError",
    "CostAccount",
    "CostBasis",
    "CostReport",
    "CostTracker",
    "DeltaEvent",
    "FinishEvent",
    "HTTPTransport",
    "InternalServerError",
    "ModelCost",
    "ModelPrice",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PriceTable",
    "PriceTier",
    "ProviderError",
    "ProviderExtras",
    "QueueFullError",
    "RateLimitError",
    "ReasoningDelta",
    "Reassembler",
    "RefusalDelta",
    "ResumeEvent",
    "ResumeMode",
    "RetryEvent",
    "RetryPolicy",
    "SSEDecoder",
    "SSEError",
    "ServerSentEvent",
    "Signature",
    "Stream",
    "StreamCost",
    "StreamInterruptedError",
    "StreamMetrics",
    "StreamOrderError",
    "StreamResult",
    "StreamSession",
    "StreamStalledError",
    "StreamStateError",
    "StreamingClient",
    "StreamkitError",
    "TaggedEvent",
    "TextDelta",
    "Timeouts",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "UnexpectedContentTypeError",
    "UnknownModelWarning",
    "Usage",
    "UsageEvent",
    "WebSocketClosedError",
    "__version__",
    "errors",
    "offline",
    "pricing",
    "providers",
    "sse",
    "tracker",
]
