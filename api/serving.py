"""How ``qa serve`` speaks HTTP: uvicorn's h11 protocol with a deadline on request heads.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and the size of a
request head (``h11_max_incomplete_event_size``), but not the time a head takes to arrive: a
client that opens a connection and sends nothing, or a header line every few seconds, holds
its connection (and its slot) for as long as it likes. Here each request head must be whole
within ``QA_HEADER_TIMEOUT_S`` (10 s) of the connection's start or of the previous response's
end; a connection that misses it is closed (a 408 when part of a head arrived). The body has
its own deadline (``api.admission``).
"""

from __future__ import annotations

import asyncio
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = float(os.environ.get("QA_HEADER_TIMEOUT_S", "10"))


class HeadsInTime(H11Protocol):
    """``H11Protocol`` whose connections close when a request head is late."""

    _head_deadline: asyncio.TimerHandle | None = None
    _head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        self._head_started = True
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a whole head arrived: a new request is under way
            self._stop_waiting()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is cycle:  # no pipelined request began
            self._await_head()  # the next request's head, on this keep-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_started = False
        self._head_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._head_late)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self._head_started and self.conn.our_state is h11.IDLE:
            try:
                event = h11.Response(
                    status_code=408, headers=[(b"connection", b"close"), (b"content-length", b"0")]
                )
                self.transport.write(self.conn.send(event) or b"")
            except h11.LocalProtocolError:  # the connection is in no state for a reply
                pass
        self.transport.close()
