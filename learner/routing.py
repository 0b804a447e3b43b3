"""The routing plan the learner is the single writer of: routes per model type + generation.

Every change yields a complete table with a higher generation; sidecars refuse older ones, so
a sidecar that missed a push converges on the next (re)push.

>>> plan = RoutingPlan()
>>> plan.set_route("clf", champion="clf_1.0.0").generation
1
>>> table = plan.set_route("clf", champion="clf_1.0.0", challenger="clf_1.0.1", share=0.1, salt="t1")
>>> table.generation, table.routes["clf"].challenger
(2, 'clf_1.0.1')
"""

from __future__ import annotations

import statcore

__all__ = ["RoutingPlan"]


class RoutingPlan:
    """Routes of every model type; each change bumps the generation."""

    def __init__(self, generation: int = 0) -> None:
        self._generation = generation
        self._routes: dict[str, statcore.Route] = {}

    @property
    def generation(self) -> int:
        return self._generation

    def route(self, model_type: str) -> statcore.Route | None:
        return self._routes.get(model_type)

    def set_route(self, model_type: str, *, champion: str, challenger: str | None = None,
                  share: float = 0.0, salt: str | None = None) -> statcore.RoutingTable:
        """Replace ``model_type``'s route; returns the new complete table."""
        if challenger is None:
            share = 0.0
        route = (statcore.Route(champion, challenger, share, salt) if salt is not None
                 else statcore.Route(champion, challenger, share))
        self._routes[model_type] = route
        self._generation += 1
        return self.table()

    def table(self) -> statcore.RoutingTable:
        return statcore.RoutingTable(self._generation, dict(self._routes))
