"""The one executor: applies a :class:`~learner.loop.decide.Decision` to the world.

Each action is one write transaction — registry transition, routing table (next generation),
A/B test row, the model type's loop state and the events — followed, after the commit, by the
routing push. A ``kill -9`` anywhere leaves the database either before or after the change;
the push is what a restart redoes (:meth:`Executor.resync` pushes the stored table to every
sidecar whose generation differs). Automatic and manual promotions, rollbacks, tests and
retraining all go through here, so they have the same side effects.

Generations never go backwards: a sidecar that refuses a push because it holds a higher
generation (left by a learner whose database was restored, or a second writer) makes the plan
re-issue its table above the highest generation seen. A push that a live sidecar missed or
refused is an event (``ROUTING``) and a metric, and :class:`PushFailedError` for callers that
must say so (the admin API's ``promote`` / ``rollback``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import statcore
from learner.abtest import ABTest, ABTestStatus
from learner.errors import FleetError
from learner.events import EventKind, EventLog, LoopEvent
from learner.fleet import Fleet, PushKind, PushResult
from learner.loop.decide import (
    Action, Decision, EndTest, Note, Promote, Rollback, StartABTest, StartRetrain,
)
from learner.loop.state import ModelLoopState, Phase
from learner.loop.store import LoopStore
from learner.metrics import LearnerMetrics
from learner.registry import ModelRegistry, ModelStatus, transitions
from learner.retrainer import Retrainer
from learner.routing import RoutingPlan

__all__ = ["Executor", "Applied"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class Applied:
    """What applying a decision did: the new state, the events, the push (if any) and the
    action's own facts (``previous_champion``, ``test_id``, ``job_id`` …)."""

    state: ModelLoopState
    events: tuple[LoopEvent, ...] = ()
    push: PushResult | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def pushed(self, generation: int) -> dict[str, Any]:
        """The push per sidecar: ``generation``, ``applied``, ``missed``, ``refused``."""
        push = self.push
        return {"generation": generation if push is None else push.generation,
                "applied": [] if push is None else list(push.applied),
                "missed": [] if push is None else list(push.missed),
                "refused": [] if push is None else list(push.refused)}


class Executor:
    """Applies actions idempotently; the single writer of routing and loop state."""

    def __init__(self, registry: ModelRegistry, store: LoopStore, plan: RoutingPlan, fleet: Fleet,
                 events: EventLog, metrics: LearnerMetrics, *, retrainer: Retrainer | None = None,
                 clock: Clock = time.time) -> None:
        self._registry, self._store, self._plan, self._fleet = registry, store, plan, fleet
        self._events, self._metrics, self._retrainer, self._clock = events, metrics, retrainer, clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- decisions -------------------------------------------------------------------------

    def apply(self, decision: Decision, *, record: Callable[[Any], None] | None = None) -> Applied:
        """Apply ``decision``: its action (if any) and its notes, with the new state.
        ``record`` writes the observation's own rows (a drift check) in the same transaction;
        it goes with decisions whose action is nothing or a retraining."""
        action: Action | None = decision.action
        if isinstance(action, StartRetrain):
            return self._start_retrain(decision, action, record)
        if isinstance(action, StartABTest):
            return self._start_test(decision, action)
        if isinstance(action, Promote):
            return self._promote(decision, action)
        if isinstance(action, Rollback):
            return self._rollback(decision, action)
        if isinstance(action, EndTest):
            return self._end_test(decision, action)
        with self._store.write() as tx:
            if record is not None:
                record(tx)
            self._store.save_state(tx, decision.state)
            events = self._notes(tx, decision.state.model_type, decision.notes)
        self._events.publish(*events)
        return Applied(decision.state, events)

    def _notes(self, tx: Any, model_type: str, notes: tuple[Note, ...]) -> tuple[LoopEvent, ...]:
        return tuple(self._events.append(tx, n.kind, model_type, n.message, n.details, subject=n.subject)
                     for n in notes)

    def _running_test(self, model_type: str) -> ABTest | None:
        return next((t for t in self._store.all_tests()
                     if t.model_type == model_type and t.status is ABTestStatus.RUNNING), None)

    def _end_running(self, tx: Any, model_type: str, status: ABTestStatus, keep: str | None = None) -> None:
        test = self._running_test(model_type)
        if test is not None:
            end = status if keep is None or test.test_id == keep else ABTestStatus.STOPPED
            self._store.save_test(tx, replace(test, status=end, ended_at=self._clock()))

    def _commit_route(self, tx: Any, table: statcore.RoutingTable) -> None:
        self._store.save_routing(tx, table)

    def _finish(self, table: statcore.RoutingTable | None, events: tuple[LoopEvent, ...],
                state: ModelLoopState, facts: dict[str, Any]) -> Applied:
        """After the commit: adopt the table, publish the events, push."""
        push = None
        if table is not None:
            self._plan.adopt(table)
        self._events.publish(*events)
        if table is not None:
            push = self.push(self._plan.table())
            facts = {**facts, "generation": push.generation}
        return Applied(state, events, push, facts)

    def _start_retrain(self, decision: Decision, action: StartRetrain,
                       record: Callable[[Any], None] | None) -> Applied:
        state = decision.state
        job = None
        if self._retrainer is None:
            log.warning("retraining wanted for %s (%s) but no retrainer is configured",
                        state.model_type, action.reason)
        else:
            job = self._retrainer.trigger(state.model_type, action.reason, action.statistics)
        notes = decision.notes
        if job is not None:
            state = state.with_phase(Phase.RETRAINING, pending_jobs=(*state.pending_jobs, job))
            notes = (*notes, Note(EventKind.RETRAINING, f"job {job}: {action.reason}",
                                  {"job_id": job, "stage": "started", "reason": action.reason}, job))
        with self._store.write() as tx:
            if record is not None:
                record(tx)
            self._store.save_state(tx, state)
            events = self._notes(tx, state.model_type, notes)
        return self._finish(None, events, state, {"job_id": job})

    def _start_test(self, decision: Decision, action: StartABTest) -> Applied:
        model_type = decision.state.model_type
        now = self._clock()
        reason = f"retrained (job {action.job_id})" if action.job_id else "A/B test created by an operator"
        with self._registry.transaction() as tx:
            # A registered model becomes the type's challenger; the seed's examples also test
            # former champions and the champion itself, which keep their status.
            if transitions.fetch(tx, action.challenger_id).status is ModelStatus.REGISTERED:
                transitions.set_challenger(tx, action.challenger_id, self._registry.change(reason))
            self._end_running(tx, model_type, ABTestStatus.STOPPED)
            test_id = self._store.next_test_id(model_type)
            table = self._plan.propose(model_type, champion=action.champion_id,
                                       challenger=action.challenger_id, share=action.traffic_split,
                                       salt=test_id)
            test = ABTest(test_id, model_type, action.champion_id, action.challenger_id,
                          action.traffic_split, int(now * 1000), table.generation)
            self._store.save_test(tx, test)
            self._commit_route(tx, table)
            state = decision.state.with_phase(Phase.AB_TESTING, test_id=test_id)
            self._store.save_state(tx, state)
            details = {"test_id": test_id, "champion_id": action.champion_id, "stage": "started",
                       "challenger_id": action.challenger_id, "traffic_split": action.traffic_split}
            events = (*self._notes(tx, model_type, decision.notes), self._events.append(
                tx, EventKind.AB_TEST, model_type,
                f"A/B test {test_id}: {action.challenger_id} gets {action.traffic_split:.0%} of traffic "
                f"against {action.champion_id}", details, subject=action.challenger_id))
        return self._finish(table, events, state, {"test_id": test_id})

    def _monitoring(self, state: ModelLoopState, now_ms: int, **changes: Any) -> ModelLoopState:
        phase = Phase.RETRAINING if state.pending_jobs else Phase.MONITORING
        return state.with_phase(phase, test_id=None, champion_since_ms=now_ms, drift_cursor_ms=now_ms,
                                in_drift=False, health_alerted=False, **changes)

    def _promote(self, decision: Decision, action: Promote) -> Applied:
        model_type = decision.state.model_type
        now_ms = self._now_ms()
        change = self._registry.change(action.reason, action.evidence)
        with self._registry.transaction() as tx:
            champion = transitions.holder(tx, model_type, ModelStatus.CHAMPION)
            previous = champion
            if champion != action.model_id:  # re-applied after a crash: already done
                previous = transitions.promote(tx, action.model_id, change,
                                               {"manual": True} if action.manual else action.evidence)
            self._end_running(tx, model_type, ABTestStatus.CONCLUDED if not action.manual
                              else ABTestStatus.STOPPED, keep=action.test_id)
            table = self._plan.propose(model_type, champion=action.model_id)
            self._commit_route(tx, table)
            state = self._monitoring(decision.state, now_ms)
            self._store.save_state(tx, state)
            how = "by hand" if action.manual else "automatically"
            details: dict[str, Any] = {"model_id": action.model_id, "new_champion": action.model_id,
                       "previous_champion": previous, "test_id": action.test_id, "manual": action.manual,
                       "reason": action.reason, "generation": table.generation}
            if action.result is not None:
                details.update(result=action.result, checks=action.evidence.get("checks", {}))
            events = (*self._notes(tx, model_type, decision.notes), self._events.append(
                tx, EventKind.PROMOTION, model_type, f"promoted {action.model_id} {how}: {action.reason}",
                details, subject=action.model_id))
        return self._finish(table, events, state, {"previous_champion": previous,
                                                   "new_champion": action.model_id})

    def _rollback(self, decision: Decision, action: Rollback) -> Applied:
        model_type = decision.state.model_type
        now_ms = self._now_ms()
        change = self._registry.change(action.reason, action.statistics)
        started = time.perf_counter()
        with self._registry.transaction() as tx:
            current = transitions.holder(tx, model_type, ModelStatus.CHAMPION)
            restored = transitions.rollback(tx, model_type, change)
            self._end_running(tx, model_type, ABTestStatus.STOPPED)
            table = self._plan.propose(model_type, champion=restored)
            self._commit_route(tx, table)
            state = self._monitoring(decision.state, now_ms, last_rollback_ms=now_ms)
            self._store.save_state(tx, state)
            details = {"previous_champion": current, "restored_champion": restored,
                       "reason": action.reason, "generation": table.generation, **action.statistics}
            events = (*self._notes(tx, model_type, decision.notes), self._events.append(
                tx, EventKind.ROLLBACK, model_type, f"rolled back to {restored}: {action.reason}",
                details, subject=restored))
        applied = self._finish(table, events, state, {"previous_champion": current,
                                                      "restored_champion": restored})
        return replace(applied, facts={**applied.facts, "duration_s": time.perf_counter() - started})

    def _end_test(self, decision: Decision, action: EndTest) -> Applied:
        model_type = decision.state.model_type
        test = self._store.get_test(action.test_id)
        with self._registry.transaction() as tx:
            table = None
            if test is not None and test.status is ABTestStatus.RUNNING:
                self._store.save_test(tx, replace(test, status=action.status, ended_at=self._clock()))
                champion = transitions.holder(tx, model_type, ModelStatus.CHAMPION) or test.champion_id
                table = self._plan.propose(model_type, champion=champion)
                self._commit_route(tx, table)
            phase = Phase.RETRAINING if decision.state.pending_jobs else Phase.MONITORING
            state = decision.state.with_phase(phase, test_id=None)
            self._store.save_state(tx, state)
            events = (*self._notes(tx, model_type, decision.notes), self._events.append(
                tx, EventKind.AB_TEST, model_type, f"A/B test {action.test_id} ended: {action.reason}",
                {**action.evidence, "test_id": action.test_id, "stage": "ended",
                 "status": action.status.value}, subject=action.test_id))
        return self._finish(table, events, state, {"test_id": action.test_id})

    # -- routing ---------------------------------------------------------------------------

    def route_champion(self, model_type: str, champion: str, test: ABTest | None) -> bool:
        """Make the plan route ``model_type`` as the registry says (start-up, or after an
        outside change); returns whether the table changed."""
        route = self._plan.route(model_type)
        want = (champion, None if test is None else test.challenger_id)
        if route is not None and (route.champion, route.challenger) == want:
            return False
        table = (self._plan.propose(model_type, champion=champion) if test is None else
                 self._plan.propose(model_type, champion=champion, challenger=test.challenger_id,
                                    share=test.traffic_split, salt=test.test_id))
        with self._store.write() as tx:
            self._commit_route(tx, table)
        self._plan.adopt(table)
        return True

    def _reissue(self, above: int) -> statcore.RoutingTable:
        table = self._plan.reissued(above=above)
        with self._store.write() as tx:
            self._commit_route(tx, table)
        self._plan.adopt(table)
        log.warning("a sidecar holds routing generation %d: continuing at %d", above, table.generation)
        return table

    def push(self, table: statcore.RoutingTable) -> PushResult:
        """Push ``table``; refusals by a higher generation make the plan re-issue above it. A
        push that a live sidecar missed or refused is recorded as a ``ROUTING`` event."""
        result = self._fleet.push_routing(table)
        if result.refused:
            top = max(self._fleet.generations().values(), default=0)
            if top >= table.generation:
                result = self._fleet.push_routing(self._reissue(top))
        self._metrics.push_latency.labels("routing").observe(result.latency_s)
        if not result.complete:
            self._metrics.incomplete_pushes.labels(PushKind.ROUTING.value).inc()
            event = self._events.emit(
                EventKind.ROUTING, "*", f"routing generation {result.generation} incomplete: "
                f"missed {list(result.missed)}, refused {list(result.refused)}",
                {"generation": result.generation, "applied": list(result.applied),
                 "missed": list(result.missed), "refused": list(result.refused)})
            log.warning("%s", event.message)
        return result

    def resync(self) -> list[str]:
        """Bring every reachable sidecar to the plan's table (every tick): adopt a higher
        generation seen on any of them, else re-push where a sidecar's table differs. Returns
        the sidecars brought up to date."""
        if not self._plan.table().routes:
            return []
        try:
            generations = self._fleet.generations()
        except FleetError:
            generations = {}
        top = max(generations.values(), default=0)
        if top > self._plan.generation:
            return list(self.push(self._reissue(top)).applied)
        return self._fleet.reconcile()
