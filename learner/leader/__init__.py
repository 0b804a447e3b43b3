"""Leader election among learner replicas: a lease with a fencing token in the shared database.

Not wired into ``learner serve`` yet (issue 13, point 2): :class:`LeaseStore` and
:func:`decide` are the building blocks a serve process needs.
"""

from learner.leader.errors import LeaseError, NotLeaderError
from learner.leader.lease import Lease, LeaseOutcome, LeaseVerdict, decide
from learner.leader.store import LEASE_SCHEMA, LeaseStore

__all__ = [
    "LEASE_SCHEMA",
    "Lease",
    "LeaseError",
    "LeaseOutcome",
    "LeaseStore",
    "LeaseVerdict",
    "NotLeaderError",
    "decide",
]
