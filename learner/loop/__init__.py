"""The control loop as a state machine: durable per-type state, a pure decision step and one
executor that applies its actions idempotently (``ContinuousLearner`` is a façade over it).

* :mod:`learner.loop.state` — what the loop remembers per model type (phase, cursors, jobs);
* :mod:`learner.loop.store` — that state, the routing table, A/B tests, the event stream and
  drift checks in the registry's database, written in the registry's transactions;
* :mod:`learner.loop.decide` — ``decide(state, observation, policy, now) -> Decision``;
* :mod:`learner.loop.executor` — applies a decision's action: one transaction (registry
  transition + routing table + test + state + event), then the push.
"""
