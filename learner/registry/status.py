"""Lifecycle states of a registered model and the transitions between them.

::

    registered -> challenger -> champion -> archived -> deprecated
                                   |  ^
                                   +--+  (rollback restores an archived former champion)
"""

from __future__ import annotations

import enum

from learner.named_enum import NamedEnum
from learner.registry.errors import InvalidTransitionError

__all__ = ["ModelStatus", "LedgerAction", "check_transition"]


class ModelStatus(NamedEnum):
    """Where a model is in its lifecycle. Stored in SQLite by ``value``."""

    REGISTERED = "registered"
    CHALLENGER = "challenger"
    CHAMPION = "champion"
    ARCHIVED = "archived"
    DEPRECATED = "deprecated"

    @classmethod
    def _kind(cls) -> str:
        return "status"

    @classmethod
    def parse_error(cls, message: str) -> ValueError:
        return InvalidTransitionError(message)


class LedgerAction(enum.Enum):
    """What a ledger entry records."""

    REGISTER = "register"
    SET_CHALLENGER = "set_challenger"
    #: A challenger replaced by another one goes back to ``registered``.
    UNSET_CHALLENGER = "unset_challenger"
    PROMOTE = "promote"
    #: The champion replaced by a promotion is archived.
    DEMOTE = "demote"
    #: The champion removed by a rollback is archived.
    ROLLBACK = "rollback"
    #: A former champion made champion again by a rollback.
    RESTORE = "restore"
    ARCHIVE = "archive"
    DEPRECATE = "deprecate"


# Explicit, user-requested transitions. Demoting the champion and restoring a former
# champion are side effects of promotion and rollback, recorded with their own actions.
_ALLOWED: dict[ModelStatus, frozenset[ModelStatus]] = {
    ModelStatus.REGISTERED: frozenset(
        {ModelStatus.CHALLENGER, ModelStatus.CHAMPION, ModelStatus.ARCHIVED, ModelStatus.DEPRECATED}
    ),
    ModelStatus.CHALLENGER: frozenset(
        {ModelStatus.REGISTERED, ModelStatus.CHAMPION, ModelStatus.ARCHIVED, ModelStatus.DEPRECATED}
    ),
    # A champion leaves only by being replaced (promotion) or rolled back.
    ModelStatus.CHAMPION: frozenset(),
    ModelStatus.ARCHIVED: frozenset({ModelStatus.DEPRECATED}),
    ModelStatus.DEPRECATED: frozenset(),
}


def check_transition(model_id: str, current: ModelStatus, target: ModelStatus) -> None:
    """Raise :class:`InvalidTransitionError` naming the model unless ``current -> target`` is allowed."""
    if target not in _ALLOWED[current]:
        raise InvalidTransitionError(
            f"cannot move {model_id} from {current.value} to {target.value}"
        )
