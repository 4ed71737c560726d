"""Autobahn's debug arguments, made lazy in the web process (orchestrator/lazy_autobahn_logs.py):
nothing is formatted until a message is written, and what is written is what Autobahn wrote."""

from __future__ import annotations

from pprint import pformat

from autobahn.util import hltype, hlval
from autobahn.websocket import protocol

from orchestrator import lazy_autobahn_logs


class Counted:
    """A value that counts how often it is turned into text."""

    def __init__(self) -> None:
        self.formatted = 0

    def __repr__(self) -> str:
        self.formatted += 1
        return "counted"

    __str__ = __repr__


def test_a_debug_argument_is_formatted_only_when_written_and_as_autobahn_formats_it() -> None:
    lazy_autobahn_logs.install()
    lazy_autobahn_logs.install()  # twice is once

    value = Counted()
    argument = protocol.hlval(value)
    settings = protocol.pformat([("openHandshakeTimeout", 5, "Factory"), ("tcpNoDelay", True)])
    assert value.formatted == 0

    assert f"{argument}" == hlval(Counted())
    assert value.formatted == 1
    assert str(settings) == pformat([("openHandshakeTimeout", 5, "Factory"), ("tcpNoDelay", True)])
    assert "{func}".format(func=protocol.hltype(Counted)) == hltype(Counted)  # noqa: UP032 - as a log message is formatted
    assert str(protocol.Timings()) == "{}"  # a str, as __str__ must return
