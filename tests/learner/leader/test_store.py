"""The lease in the shared database, on both backends: takeovers, fencing of a deposed leader's
writes, and contention between replicas."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from learner.leader import LeaseStore, LeaseVerdict, NotLeaderError
from tests.learner.conftest import TestDatabase
from tests.learner.registry.conftest import tiny_model


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_takeover_after_expiry_with_a_higher_token(tmp_path: Path,
                                                   test_database: TestDatabase) -> None:
    location = test_database.location(tmp_path / "registry.sqlite3")
    clock = Clock()
    a = LeaseStore(location, replica="a", address="10.0.0.1:50061", ttl_s=10.0, clock=clock)
    b = LeaseStore(location, replica="b", address="10.0.0.2:50061", ttl_s=10.0, clock=clock)
    assert a.acquire().verdict is LeaseVerdict.ACQUIRED
    refused = b.acquire()
    assert refused.verdict is LeaseVerdict.REFUSED and refused.lease.address == "10.0.0.1:50061"
    clock.now += 5
    assert a.acquire().verdict is LeaseVerdict.RENEWED
    clock.now += 11  # a stopped renewing
    taken = b.acquire()
    assert taken.verdict is LeaseVerdict.ACQUIRED and taken.lease.token == 2
    b.release(taken.lease.token)  # a clean shutdown hands over at once
    assert a.acquire().lease.token == 3
    assert a.current() is not None and a.current().holder == "a"  # type: ignore[union-attr]
    a.close()
    b.close()


def test_a_deposed_leader_cannot_commit_after_the_takeover(tmp_path: Path,
                                                           test_database: TestDatabase) -> None:
    clock = Clock()
    registry = test_database.registry(tmp_path / "reg", clock=clock)
    location = registry.config.location
    a = LeaseStore(location, replica="a", address="a:1", ttl_s=10.0, clock=clock)
    b = LeaseStore(location, replica="b", address="b:1", ttl_s=10.0, clock=clock)
    token_a = a.acquire().lease.token
    model_id = registry.register_model(tiny_model(1), "clf", "docs")
    with registry.transaction() as tx:  # a, still leading, writes under its token
        a.fence(tx, token_a)
    clock.now += 30  # a pauses (GC, network partition); its lease lapses; b takes over
    token_b = b.acquire().lease.token
    with pytest.raises(NotLeaderError, match="not the leader: the leader is b at b:1") as info:
        with registry.transaction() as tx:  # a wakes up and tries to promote
            tx.execute("UPDATE models SET status = 'champion' WHERE id = ?", (model_id,))
            a.fence(tx, token_a)
    assert info.value.token == token_b and info.value.address == "b:1"
    assert registry.get_champion("docs") is None  # rolled back as a whole
    registry.close()
    a.close()
    b.close()


def test_replicas_contending_never_share_a_token(tmp_path: Path,
                                                 test_database: TestDatabase) -> None:
    """Four replicas on the database's own clock, a 0.3-s lease, each renewing on and off:
    every token has exactly one holder, and tokens only grow."""
    location = test_database.location(tmp_path / "registry.sqlite3")
    seen: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def replica(name: str) -> None:
        store = LeaseStore(location, replica=name, address=f"{name}:1", ttl_s=0.3)
        try:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                outcome = store.acquire()
                if outcome.verdict is not LeaseVerdict.REFUSED:
                    seen.append((outcome.lease.token, name))
                    time.sleep(0.05 if hash((name, len(seen))) % 3 else 0.45)  # sometimes lapse
                else:
                    time.sleep(0.02)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    holders: dict[int, set[str]] = {}
    for token, name in seen:
        holders.setdefault(token, set()).add(name)
    assert all(len(names) == 1 for names in holders.values()), holders
    assert sorted(holders) == list(range(1, max(holders) + 1))  # no token skipped or reused
    assert max(holders) >= 2  # leadership did change hands
