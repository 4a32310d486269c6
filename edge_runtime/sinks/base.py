"""The one abstract class every sink implements: open, send a batch, close.

``send`` either delivers the whole batch (the destination acknowledged every record) or raises
``SinkUnavailable``; a forwarder then keeps the batch in the spool and tries again later. A sink
that delivered part of a batch before failing reports how many in ``SinkUnavailable.delivered``,
so only those are acknowledged. Sinks never see raw samples: they take ``Envelope``s, which wrap
``TransformedWindow.to_json()``.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Sequence

from edge_runtime.sinks.envelope import Envelope


class SinkUnavailable(Exception):
    """The destination cannot take records now (down, refusing, timing out). Retry later."""

    def __init__(self, message: str, delivered: int = 0):
        super().__init__(message)
        self.delivered = delivered


class Sink(abc.ABC):
    kind: ClassVar[str]
    #: network sinks go through the store-and-forward spool; local ones are written directly
    spooled: ClassVar[bool] = True

    def __init__(self, name: str):
        self.name = name

    async def open(self) -> None:
        """Connect or open files. May raise ``SinkUnavailable``; ``send`` retries connecting."""

    @abc.abstractmethod
    async def send(self, batch: Sequence[Envelope]) -> None:
        """Deliver ``batch`` in order, or raise ``SinkUnavailable``."""

    async def close(self) -> None:
        """Flush and release everything; idempotent."""

    @property
    def connected(self) -> bool:
        """Whether the destination is believed reachable now (a metric, not a promise)."""
        return True

    async def __aenter__(self) -> "Sink":
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
