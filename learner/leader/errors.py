"""Typed errors of leader election."""

from __future__ import annotations

from learner.errors import LearnerError

__all__ = ["LeaseError", "NotLeaderError"]


class LeaseError(LearnerError):
    """Base class of leader-election errors."""


class NotLeaderError(LeaseError):
    """This replica does not hold the lease (any more): ``leader`` and ``address`` name the one
    that does, ``token`` its fencing token (``None`` when nobody holds a live lease)."""

    def __init__(self, leader: str | None, address: str | None, token: int | None) -> None:
        where = "no leader" if leader is None else f"the leader is {leader} at {address or '?'}"
        super().__init__(f"not the leader: {where}")
        self.leader, self.address, self.token = leader, address, token
