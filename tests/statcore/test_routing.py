"""Routing: the portable hash, stickiness, the split, generations, codec, errors."""

from __future__ import annotations

import threading

import pytest

import statcore
from statcore import Arm, Route, Router, RoutingTable

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = (1 << 64) - 1


def reference_bucket(salt: str, key: bytes) -> int:
    """The assignment rule exactly as documented in statcore_core::routing, in plain Python."""
    h = FNV_OFFSET
    for b in salt.encode() + b"\x00" + key:
        h = ((h ^ b) * FNV_PRIME) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    h ^= h >> 31
    return ((h >> 32) * 10_000) >> 32


def table(generation: int = 1, share: float = 0.1, salt: str = "exp-1") -> RoutingTable:
    return RoutingTable(generation, {"doc": Route("doc_1.0.0", "doc_1.0.1", share, salt)})


def test_hash_is_reproducible_from_the_documented_rule() -> None:
    for i in range(2_000):
        key = f"request-{i}".encode()
        assert statcore.bucket("exp-1", key) == reference_bucket("exp-1", key)
    assert statcore.bucket("s", "ключ") == reference_bucket("s", "ключ".encode())
    assert statcore.BUCKETS == 10_000


def test_assignment_follows_the_bucket_and_sticks() -> None:
    router = Router(table(share=0.25))
    for i in range(2_000):
        key = f"user-{i}"
        model, arm = router.decide("doc", key)
        expected = Arm.CHALLENGER if reference_bucket("exp-1", key.encode()) < 2_500 else Arm.CHAMPION
        assert arm == expected
        assert model == ("doc_1.0.1" if arm == Arm.CHALLENGER else "doc_1.0.0")
        assert router.route("doc", key) == model
        assert router.route("doc", key.encode()) == model


@pytest.mark.parametrize("keyed", [True, False])
def test_split_is_honoured(keyed: bool) -> None:
    router = Router(table(share=0.1))
    n = 100_000
    hits = sum(
        router.route("doc", f"k{i}" if keyed else None) == "doc_1.0.1" for i in range(n)
    )
    # Binomial(n, 0.1): sd = 95; 5 sd either side.
    assert abs(hits - 10_000) < 475


def test_generations_are_checked() -> None:
    router = Router(table(5))
    with pytest.raises(statcore.StaleGenerationError, match="stale routing generation 4"):
        router.swap(table(4))
    with pytest.raises(statcore.StaleGenerationError):
        router.swap(table(5, share=0.5))
    assert router.swap(table(5)) is False  # the same table again: idempotent
    assert router.swap(table(6, share=0.0)) is True
    assert router.generation == 6
    assert router.route("doc", "anyone") == "doc_1.0.0"


def test_unknown_model_type_and_invalid_routes() -> None:
    router = Router(table())
    with pytest.raises(statcore.UnknownModelTypeError, match="nope"):
        router.route("nope", "k")
    with pytest.raises(ValueError):
        router.route("nope")
    with pytest.raises(statcore.InvalidInputError, match=r"challenger_share"):
        RoutingTable(1, {"doc": Route("a", "b", 1.5)})
    with pytest.raises(statcore.InvalidInputError, match=r"challenger_share"):
        RoutingTable(1, {"doc": Route("a", None, 0.5)})
    with pytest.raises(statcore.InvalidInputError, match=r"challenger"):
        RoutingTable(1, {"doc": Route("a", "a", 0.5)})
    with pytest.raises(statcore.InvalidInputError, match="key"):
        router.route("doc", 42)  # type: ignore[arg-type]


def test_codec_round_trip_and_corruption() -> None:
    t = table(9, share=0.3, salt="s")
    blob = t.encode()
    assert RoutingTable.decode(blob) == t
    assert RoutingTable.decode(blob).routes["doc"].challenger_share == 0.3
    with pytest.raises(statcore.CodecError):
        RoutingTable.decode(blob[:-3])
    with pytest.raises(statcore.CodecError):
        RoutingTable.decode(b"XXXX" + blob[4:])


def test_concurrent_swaps_and_routes_see_whole_tables() -> None:
    router = Router(table(1, share=0.0))
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                t = router.table
                share = t.routes["doc"].challenger_share
                assert share == (t.generation % 2) * 1.0 or t.generation == 1
        except BaseException as e:  # noqa: BLE001 - collected and re-raised in the test thread
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    for g in range(2, 400):
        router.swap(table(g, share=float(g % 2)))
    stop.set()
    for th in threads:
        th.join()
    assert not errors
