"""The routing plan the learner is the single writer of: routes per model type + generation.

Every change yields a complete table with a higher generation; sidecars refuse older ones, so
a sidecar that missed a push converges on the next (re)push. In the loop the plan is loaded
from the loop store at start, a change is *proposed* (a new table, nothing changed yet),
persisted in the transaction of the change it belongs to, and *adopted* after the commit — so
a generation is never handed out twice, even across restarts.

>>> plan = RoutingPlan()
>>> plan.set_route("clf", champion="clf_1.0.0").generation
1
>>> table = plan.set_route("clf", champion="clf_1.0.0", challenger="clf_1.0.1", share=0.1, salt="t1")
>>> table.generation, table.routes["clf"].challenger
(2, 'clf_1.0.1')
>>> plan.reissued(above=7).generation  # a sidecar was seen at generation 7
8
"""

from __future__ import annotations

import statcore

__all__ = ["RoutingPlan"]


class RoutingPlan:
    """Routes of every model type; each change bumps the generation."""

    def __init__(self, table: statcore.RoutingTable | None = None) -> None:
        self._table = table if table is not None else statcore.RoutingTable(0, {})

    @property
    def generation(self) -> int:
        return int(self._table.generation)

    def route(self, model_type: str) -> statcore.Route | None:
        return self._table.routes.get(model_type)

    def table(self) -> statcore.RoutingTable:
        return self._table

    def propose(self, model_type: str, *, champion: str, challenger: str | None = None,
                share: float = 0.0, salt: str | None = None) -> statcore.RoutingTable:
        """The complete table with ``model_type``'s route replaced, one generation up (the
        plan itself is unchanged until :meth:`adopt`)."""
        if challenger is None:
            share = 0.0
        route = (statcore.Route(champion, challenger, share, salt) if salt is not None
                 else statcore.Route(champion, challenger, share))
        routes = dict(self._table.routes)
        routes[model_type] = route
        return statcore.RoutingTable(self.generation + 1, routes)

    def reissued(self, *, above: int) -> statcore.RoutingTable:
        """The same routes at a generation above both ours and ``above``."""
        return statcore.RoutingTable(max(self.generation, above) + 1, dict(self._table.routes))

    def adopt(self, table: statcore.RoutingTable) -> None:
        """Make ``table`` (persisted by the caller) the plan's; generations never go back."""
        if table.generation < self.generation:
            raise ValueError(f"generation {table.generation} is below the plan's {self.generation}")
        self._table = table

    def set_route(self, model_type: str, *, champion: str, challenger: str | None = None,
                  share: float = 0.0, salt: str | None = None) -> statcore.RoutingTable:
        """Propose and adopt at once (stand-alone use, where nothing is persisted)."""
        table = self.propose(model_type, champion=champion, challenger=challenger, share=share, salt=salt)
        self.adopt(table)
        return table
