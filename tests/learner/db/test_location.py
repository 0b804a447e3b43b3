"""Database locations: SQLite paths, PostgreSQL URLs without passwords, password sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from learner.db import (
    Backend, InvalidLocationError, PostgresLocation, SqliteLocation, location_fields, location_from,
)


def test_a_path_is_sqlite_and_a_url_is_postgresql(tmp_path: Path) -> None:
    assert location_from(tmp_path / "x.db") == SqliteLocation(tmp_path / "x.db")
    pg = location_from("postgresql://lw@db:5432/loopwise", password_env="PW")
    assert isinstance(pg, PostgresLocation) and pg.backend is Backend.POSTGRESQL
    assert location_from("postgres://lw@db/loopwise").backend is Backend.POSTGRESQL


def test_bad_locations_are_refused_with_every_problem_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidLocationError) as info:
        PostgresLocation("postgresql://lw:secret@db", password_file=tmp_path / "pw",
                         password_env="PW", connect_timeout_s=0)
    message = str(info.value)
    for part in ("must not contain the password", "name the database", "at most one of",
                 "connect_timeout_s"):
        assert part in message
    assert "secret" not in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidLocationError, match="postgresql://"):
        PostgresLocation("mysql://lw@db/x")
    with pytest.raises(InvalidLocationError, match="only"):
        location_from(tmp_path / "x.db", password_env="PW")


def test_the_password_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert PostgresLocation("postgresql://lw@db/x", password_file=secret).password() == "s3cret"
    monkeypatch.setenv("LW_TEST_PW", "from-env")
    assert PostgresLocation("postgresql://lw@db/x", password_env="LW_TEST_PW").password() == "from-env"
    assert PostgresLocation("postgresql://lw@db/x").password() is None
    monkeypatch.delenv("LW_TEST_PW")
    with pytest.raises(InvalidLocationError, match="LW_TEST_PW is not set"):
        PostgresLocation("postgresql://lw@db/x", password_env="LW_TEST_PW").password()
    with pytest.raises(InvalidLocationError, match="cannot read"):
        PostgresLocation("postgresql://lw@db/x", password_file=tmp_path / "missing").password()


def test_fields_round_trip_to_another_process(tmp_path: Path) -> None:
    for location in (SqliteLocation(tmp_path / "jobs.db"),
                     PostgresLocation("postgresql://lw@db/x", password_file=tmp_path / "pw")):
        fields = location_fields(location)
        assert location_from(**fields) == location  # type: ignore[arg-type]
        assert "password" not in fields
