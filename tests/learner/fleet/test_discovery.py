"""Sidecar discovery: static lists and DNS names resolved to every address."""

from __future__ import annotations

import pytest

from learner.fleet.discovery import DnsDiscovery, StaticDiscovery, resolve_all
from learner.fleet.grpc import GrpcFleet
from learner.serve.config import FleetConfig


def test_static_is_sorted_and_deduplicated() -> None:
    assert StaticDiscovery(["b:1", "a:1", "b:1"]).addresses(0) == ["a:1", "b:1"]
    with pytest.raises(ValueError):
        StaticDiscovery([])


def test_dns_re_resolves_after_refresh_and_keeps_the_last_answer_on_failure() -> None:
    answers = [["10.0.0.1:50052"], OSError("no answer"), ["10.0.0.1:50052", "10.0.0.2:50052"]]

    def resolver(name: str, port: int) -> list[str]:
        assert (name, port) == ("sidecars.svc", 50052)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    d = DnsDiscovery("sidecars.svc", 50052, refresh_s=30, resolver=resolver)
    assert d.addresses(0) == ["10.0.0.1:50052"]
    assert d.addresses(10) == ["10.0.0.1:50052"]  # cached
    assert d.addresses(31) == ["10.0.0.1:50052"]  # resolution failed: last answer kept
    assert d.addresses(62) == ["10.0.0.1:50052", "10.0.0.2:50052"]


def test_real_resolution_of_localhost() -> None:
    assert "127.0.0.1:9" in resolve_all("localhost", 9)


def test_from_config_builds_static_and_dns_fleets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = tmp_path / "token"
    token.write_text("t")
    static = GrpcFleet.from_config(FleetConfig(static=("127.0.0.1:1", "127.0.0.1:2"), admin_token_file=token),
                                   token="t")
    assert static.sidecars() == ["127.0.0.1:1", "127.0.0.1:2"]
    dns = GrpcFleet.from_config(FleetConfig(dns="localhost", port=7, admin_token_file=token), token="t")
    assert "127.0.0.1:7" in dns.sidecars()
