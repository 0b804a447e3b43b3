"""The lease rule, as a pure function over plain data (no clock, no database).

One row per lease name holds the holder, its address, its fencing token and when the lease
expires. A candidate takes a free or expired lease with the next token; the holder renews its
own lease, keeping the token; anyone else is refused and told who leads. The token therefore
grows with every change of leader and never otherwise, so a write or a push that carries an
older token comes from a deposed leader and can be refused.

>>> first = decide(None, "a", "10.0.0.1:50061", now=100.0, ttl_s=10.0)
>>> first.verdict, first.lease.token, first.lease.expires_at
(<LeaseVerdict.ACQUIRED: 'acquired'>, 1, 110.0)
>>> decide(first.lease, "b", "10.0.0.2:50061", now=105.0, ttl_s=10.0).verdict
<LeaseVerdict.REFUSED: 'refused'>
>>> decide(first.lease, "a", "10.0.0.1:50061", now=105.0, ttl_s=10.0).lease.token
1
>>> taken = decide(first.lease, "b", "10.0.0.2:50061", now=110.5, ttl_s=10.0)
>>> taken.verdict, taken.lease.holder, taken.lease.token
(<LeaseVerdict.ACQUIRED: 'acquired'>, 'b', 2)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Lease", "LeaseVerdict", "LeaseOutcome", "decide"]


@dataclass(frozen=True)
class Lease:
    """The lease as stored: who holds it, where to reach them, the fencing token, expiry."""

    name: str
    holder: str
    address: str
    token: int
    acquired_at: float
    expires_at: float

    def live(self, now: float) -> bool:
        return now < self.expires_at


class LeaseVerdict(enum.Enum):
    ACQUIRED = "acquired"  # a new leader: the token grew
    RENEWED = "renewed"  # the holder extended its own lease: same token
    REFUSED = "refused"  # someone else holds a live lease


@dataclass(frozen=True)
class LeaseOutcome:
    """The verdict and the lease as it stands afterwards (the winner's, when refused)."""

    verdict: LeaseVerdict
    lease: Lease


def decide(current: Lease | None, candidate: str, address: str, *, now: float, ttl_s: float,
           name: str = "learner") -> LeaseOutcome:
    """What ``candidate`` gets when it asks for the lease at ``now`` for ``ttl_s`` seconds.

    The holder renews only while its lease is live: once expired, its own request is a new
    acquisition with a new token, because another replica may have led in between and seen
    the expiry. ``ttl_s`` must be positive.
    """
    if not ttl_s > 0:
        raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
    if current is not None and current.live(now):
        if current.holder != candidate:
            return LeaseOutcome(LeaseVerdict.REFUSED, current)
        return LeaseOutcome(LeaseVerdict.RENEWED, Lease(
            current.name, candidate, address, current.token, current.acquired_at, now + ttl_s))
    token = 1 if current is None else current.token + 1
    return LeaseOutcome(LeaseVerdict.ACQUIRED, Lease(
        name if current is None else current.name, candidate, address, token, now, now + ttl_s))
