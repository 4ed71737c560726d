"""Autobahn (under Daphne) formats its debug messages' arguments even when debug logging is off.

Each new WebSocket connection pretty-prints its 29 settings (``pformat``) for a debug message
nobody reads, and every frame sent colours three values for another (``hltype``/``hlval``, through
click): 0.3 ms a connection and 5 us a frame at load 7, a quarter of Daphne's time while 1,000
sockets opened at once (bench/fanout.py). Here those helpers, in the two Autobahn modules Daphne
runs, return an object that formats its value only when a log message is actually written (txaio
drops a debug message without formatting it when debug is off), so the output is the same when
it is on.
"""

from __future__ import annotations

import pprint
from collections.abc import Callable
from typing import Any

from autobahn.twisted import websocket as twisted_websocket
from autobahn.websocket import protocol

HELPERS = ("pformat", "hltype", "hlval")


class _Formatted:
    """``function(*args)``, computed when the log message is formatted."""

    __slots__ = ("args", "function", "kwargs")

    def __init__(
        self, function: Callable[..., str], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.function, self.args, self.kwargs = function, args, kwargs

    def __format__(self, spec: str) -> str:
        return format(self.function(*self.args, **self.kwargs), spec)

    def __str__(self) -> str:
        return str(self.function(*self.args, **self.kwargs))

    __repr__ = __str__


def _deferred(function: Callable[..., str]) -> Callable[..., _Formatted]:
    def deferred(*args: Any, **kwargs: Any) -> _Formatted:
        return _Formatted(function, args, kwargs)

    deferred.__wrapped__ = function  # type: ignore[attr-defined]
    return deferred


def install() -> None:
    """Once, in the web process, before it accepts connections."""
    for module in (protocol, twisted_websocket):
        for name in HELPERS:
            helper = getattr(module, name, None)
            if helper is not None and not hasattr(helper, "__wrapped__"):
                setattr(module, name, _deferred(helper))
    # The one use of pformat outside a log message: Timings.__str__ must return a str.
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)  # type: ignore[method-assign]
