"""One line per loop event, with the statistics behind it (the CLI's and the demo's timeline).

>>> describe(EventKind.ROLLBACK, "rolled back", {"restored_champion": "clf_1.0.0",
...          "generation": 7, "applied": ["a", "b"], "missed": [], "duration_s": 0.12,
...          "reason": "health: accuracy dropped"})
'ROLLBACK to clf_1.0.0 (generation 7, 2/2 sidecars, 120 ms): health: accuracy dropped'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from learner.notify import EventKind

__all__ = ["describe"]

Details = Mapping[str, Any]


def _num(value: Any, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _drift(message: str, d: Details) -> str:
    features = d.get("features") or {}
    if not features:
        return f"DRIFT: {message}"
    name, worst = max(features.items(), key=lambda kv: kv[1].get("psi") or 0.0)
    drifted = sum(1 for f in features.values() if f.get("drifted"))
    return (f"DRIFT detected: {drifted}/{len(features)} features drifted, worst {name} "
            f"PSI={_num(worst.get('psi'))} KS={_num(worst.get('ks_statistic'))} "
            f"({d.get('current_n', '?')} records vs {d.get('reference_n', '?')} reference)")


def _retraining(message: str, d: Details) -> str:
    metrics = d.get("metrics") or {}
    if d.get("outcome") == "challenger":
        return (f"RETRAINED: {d.get('model_id')} held-out accuracy "
                f"{_num(metrics.get('heldout_accuracy'))} ({_num(metrics.get('accuracy_gain'), '+.3f')} "
                f"vs the champion), adapter {metrics.get('adapter_bytes', 0) / 1e6:.2f} MB, "
                f"{_num(100 * metrics.get('trainable_share', 0.0), '.2f')} % of weights trained")
    return f"RETRAINING: {message}"


def _ab_test(message: str, d: Details) -> str:
    if d.get("stage") == "ended":
        return f"A/B TEST {d.get('test_id')} ENDED: {message}"
    return (f"A/B TEST {d.get('test_id')}: {d.get('challenger_id')} gets "
            f"{_num(100 * d.get('traffic_split', 0.0), '.0f')} % against {d.get('champion_id')} "
            f"({d.get('method', 'sequential')} test)")


def _promotion(message: str, d: Details) -> str:
    r = d.get("result")
    if not r:
        return f"PROMOTION: {message}"
    ch, cp = r["challenger"], r["champion"]
    return (f"PROMOTED {d.get('new_champion')}: accuracy {_num(ch['accuracy'])} "
            f"(n={ch['labelled']}) vs {_num(cp['accuracy'])} (n={cp['labelled']}), difference "
            f"{_num(r.get('estimate'), '+.3f')} [95% CI {_num(r.get('ci_low'), '+.3f')}, "
            f"{_num(r.get('ci_high'), '+.3f')}], always-valid p={_num(r.get('p_value'), '.1e')}, "
            f"SRM p={_num(r.get('srm_pvalue'), '.2f')}; generation {d.get('generation')}")


def _rollback(message: str, d: Details) -> str:
    pushed = ""
    if "applied" in d:  # push outcomes are events of their own (ROUTING) when incomplete
        applied, missed = len(d.get("applied") or ()), len(d.get("missed") or ())
        pushed = f", {applied}/{applied + missed} sidecars, {1000 * (d.get('duration_s') or 0.0):.0f} ms"
    return (f"ROLLBACK to {d.get('restored_champion')} (generation {d.get('generation')}{pushed}): "
            f"{d.get('reason', message)}")


def _health(message: str, d: Details) -> str:
    if "accuracy" not in d:
        return f"HEALTH: {message}"
    return (f"HEALTH {str(d.get('severity', '')).upper()}: {d.get('model_id')} accuracy "
            f"{_num(d.get('accuracy'))} vs baseline {_num(d.get('baseline_accuracy'))} on "
            f"{d.get('labelled')} labels: {'; '.join(d.get('issues') or ()) or 'ok'}")


_FORMATS: dict[EventKind, Callable[[str, Details], str]] = {
    EventKind.DRIFT: _drift, EventKind.RETRAINING: _retraining, EventKind.AB_TEST: _ab_test,
    EventKind.PROMOTION: _promotion, EventKind.ROLLBACK: _rollback, EventKind.HEALTH: _health,
}


def describe(kind: EventKind, message: str, details: Details) -> str:
    """The event as one line; falls back to ``message`` when the details lack a field."""
    fmt = _FORMATS.get(kind)
    if fmt is None:
        return f"{kind.value.upper()}: {message}"
    try:
        return fmt(message, details)
    except (AttributeError, KeyError, TypeError, ValueError):
        return f"{kind.value.upper()}: {message}"
