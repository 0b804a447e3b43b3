from __future__ import annotations

import pytest

from learner import ModelVersion
from learner.registry import InvalidVersionError, RegistryError, VersionBump


def test_seed_semantic_versioning_example() -> None:
    # The seed's "Semantic Versioning" example, with our import path.
    # Create versions
    v1 = ModelVersion(1, 0, 0)  # 1.0.0
    v2 = v1.increment_patch()    # 1.0.1 (bug fix, retraining)
    v3 = v1.increment_minor()    # 1.1.0 (new features)
    v4 = v1.increment_major()    # 2.0.0 (breaking changes)

    # Compare
    assert v2 > v1
    assert v3.is_compatible_with(v1)  # Same major version

    assert (str(v2), str(v3), str(v4)) == ("1.0.1", "1.1.0", "2.0.0")
    assert not v4.is_compatible_with(v1)


def test_parse_and_print_round_trip() -> None:
    for text in ["0.0.0", "1.2.3", "10.20.30", "2147483647.0.1"]:
        assert str(ModelVersion.parse(text)) == text
    assert ModelVersion.parse(" 1.2.3 ") == ModelVersion(1, 2, 3)


def test_total_ordering_is_numeric_not_lexicographic() -> None:
    versions = [ModelVersion.parse(t) for t in ["1.10.0", "1.2.0", "0.9.9", "1.2.10", "1.2.9"]]
    assert [str(v) for v in sorted(versions)] == ["0.9.9", "1.2.0", "1.2.9", "1.2.10", "1.10.0"]
    assert ModelVersion(1, 2, 3) == ModelVersion.parse("1.2.3")
    assert ModelVersion(1, 2, 3) <= ModelVersion(1, 2, 3) < ModelVersion(1, 3, 0)
    assert len({ModelVersion(1, 0, 0), ModelVersion.parse("1.0.0")}) == 1


@pytest.mark.parametrize(
    "text", ["", "1", "1.2", "1.2.3.4", "v1.2.3", "1.-2.3", "01.2.3", "1.2.x", "1..2", "1.2.3-rc1"]
)
def test_invalid_version_strings_raise_typed_error(text: str) -> None:
    with pytest.raises(InvalidVersionError, match="invalid version") as info:
        ModelVersion.parse(text)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RegistryError)


@pytest.mark.parametrize("parts", [(-1, 0, 0), (1, True, 0), (1, 0, 1.5), (2**31, 0, 0)])
def test_invalid_parts_raise(parts: tuple[object, object, object]) -> None:
    with pytest.raises(InvalidVersionError):
        ModelVersion(*parts)  # type: ignore[arg-type]


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidVersionError):
        ModelVersion.parse(123)  # type: ignore[arg-type]


def test_bump_and_coerce() -> None:
    v = ModelVersion(1, 4, 2)
    assert v.bump(VersionBump.PATCH) == ModelVersion(1, 4, 3)
    assert v.bump(VersionBump.MINOR) == ModelVersion(1, 5, 0)
    assert v.bump(VersionBump.MAJOR) == ModelVersion(2, 0, 0)
    assert ModelVersion.coerce("1.4.2") is not v and ModelVersion.coerce("1.4.2") == v
    assert ModelVersion.coerce(v) is v
