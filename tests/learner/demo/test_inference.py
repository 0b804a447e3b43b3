"""The inference server's command channel."""

from __future__ import annotations

from learner.demo.inference import Controls, read_commands


def test_commands_switch_drift_and_degradation_and_eof_stops() -> None:
    controls = Controls()
    read_commands(controls, ["drift\n", "degrade clf_1.0.1\n", "\n", "colour blue\n"])
    assert controls.drift and controls.degraded == {"clf_1.0.1"} and controls.stop.is_set()
    controls = Controls()
    read_commands(controls, ["degrade a\n", "heal\n", "stop\n", "drift\n"])
    assert controls.degraded == set() and not controls.drift and controls.stop.is_set()
