"""The relay's exceptions, under :class:`~streamkit.errors.StreamkitError`.

::

    StreamkitError
     └── RelayError                 anything the relay or a store refuses or cannot do
          ├── LeaseLostError        a producer's lease is gone: another producer owns the id now
          ├── StreamExistsError     start with an id that is live, or belongs to another owner
          ├── StoreFullError        the store's limit of streams is reached by live streams
          └── StoreUnavailableError the store (Redis) could not be reached or answered an error
"""

from __future__ import annotations

from streamkit.errors import StreamkitError

__all__ = [
    "LeaseLostError",
    "RelayError",
    "StoreFullError",
    "StoreUnavailableError",
    "StreamExistsError",
]


class RelayError(StreamkitError):
    """Base class of the errors of :mod:`streamkit.relay`."""


class LeaseLostError(RelayError):
    """The producer no longer holds the stream's lease; its writes are refused.

    Raised by a store's ``append``/``finish`` when the stream id was taken over
    (``replace=True``), evicted, or (Redis) the lease expired because the producer
    did not renew it in time. The producer stops; it never writes again.
    """


class StreamExistsError(RelayError):
    """The stream id is taken: live (its producer holds the lease) or another owner's.

    Start with ``replace=True`` to take over a live stream of your own.
    """


class StoreFullError(RelayError):
    """The store holds ``max_streams`` live streams; finished ones were evicted first.

    The relay answers ``503`` with ``Retry-After``.
    """


class StoreUnavailableError(RelayError):
    """The store's backend (Redis) failed: connection refused, timeout, or an error reply.

    The original exception is the ``__cause__``.
    """
