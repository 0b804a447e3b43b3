"""Where the sidecars are: a static list of admin addresses, or every address a DNS name
resolves to (a Kubernetes headless service), re-resolved at most every ``refresh_s``.

>>> StaticDiscovery(["10.0.0.2:50052", "10.0.0.1:50052"]).addresses(0.0)
['10.0.0.1:50052', '10.0.0.2:50052']
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["Discovery", "StaticDiscovery", "DnsDiscovery"]

Resolver = Callable[[str, int], list[str]]


class Discovery(Protocol):
    def addresses(self, now_s: float) -> list[str]:
        """The sidecars' admin addresses (``host:port``), sorted."""
        ...


class StaticDiscovery:
    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("a static fleet needs at least one sidecar address")
        self._addresses = sorted(set(addresses))

    def addresses(self, now_s: float) -> list[str]:
        return list(self._addresses)


def resolve_all(name: str, port: int) -> list[str]:
    """Every IPv4/IPv6 address of ``name`` as ``host:port`` (IPv6 in brackets)."""
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    out = set()
    for family, _, _, _, sockaddr in infos:
        host = str(sockaddr[0])
        out.add(f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}")
    return sorted(out)


class DnsDiscovery:
    """Resolves ``name`` to all its addresses; keeps the last answer when resolution fails."""

    def __init__(self, name: str, port: int, *, refresh_s: float = 30.0,
                 resolver: Resolver = resolve_all) -> None:
        self._name, self._port, self._refresh_s = name, port, refresh_s
        self._resolver = resolver
        self._last: list[str] = []
        self._at: float | None = None

    def addresses(self, now_s: float) -> list[str]:
        if self._at is None or now_s - self._at >= self._refresh_s:
            try:
                self._last = self._resolver(self._name, self._port)
            except OSError:
                if self._at is None:
                    raise
            self._at = now_s
        return list(self._last)
