"""The lease rule as a pure function: who gets the lease, and what happens to the token."""

from __future__ import annotations

import doctest

import pytest

from learner.leader import Lease, LeaseVerdict, decide
from learner.leader import lease as lease_module


def test_the_token_grows_with_every_new_leader_and_only_then() -> None:
    tokens, holder, lease = [], None, None
    # a leads, renews twice, dies; b takes over; a comes back and is refused; b lets it lapse.
    script = [("a", 0.0), ("a", 5.0), ("a", 12.0), ("b", 30.0), ("a", 31.0), ("b", 35.0),
              ("a", 50.0)]
    for candidate, now in script:
        outcome = decide(lease, candidate, f"{candidate}:1", now=now, ttl_s=10.0)
        lease = outcome.lease
        tokens.append(lease.token)
        holder = lease.holder
    assert tokens == [1, 1, 1, 2, 2, 2, 3] and holder == "a"


def test_an_expired_holder_reacquires_with_a_new_token() -> None:
    first = decide(None, "a", "a:1", now=0.0, ttl_s=10.0).lease
    again = decide(first, "a", "a:1", now=10.0, ttl_s=10.0)  # expiry is exclusive
    assert again.verdict is LeaseVerdict.ACQUIRED and again.lease.token == 2


def test_a_refusal_names_the_live_leader() -> None:
    held = Lease("learner", "a", "10.0.0.1:50061", 7, 0.0, 10.0)
    outcome = decide(held, "b", "10.0.0.2:50061", now=9.9, ttl_s=10.0)
    assert outcome.verdict is LeaseVerdict.REFUSED and outcome.lease == held


def test_bad_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        decide(None, "a", "a:1", now=0.0, ttl_s=0.0)


def test_docstring_examples_run() -> None:
    failed, _ = doctest.testmod(lease_module)
    assert failed == 0
