"""The demo's director: starts the processes, injects drift and a degradation, narrates.

Processes (each a real server on loopback ports chosen by the OS):

* two ``sidecar serve`` processes (LMDB stores, 2-second aggregate windows);
* ``learner serve`` over both sidecars (SQLite registry, local artifacts, LoRA retraining in
  worker processes, admin API with a token);
* ``python -m learner.demo.inference``: the simulated inference server.

The director follows the loop through the learner's admin API (``ListEvents``), exactly as
``learner events --follow`` does, and prints each decision with its statistics. It switches
the document stream to drifted documents after a warm-up, and once a challenger has been
promoted it makes the inference server serve that model with a broken label map (a faulty
deploy), so that the health check must roll it back. Then it checks that every sidecar routes
to the restored champion, writes the weekly report with ``learner report``, prints a summary
and stops every process. Ctrl-C stops everything at any point.
"""

from __future__ import annotations

import enum
import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from learner import cli
from learner.admin_client import Admin
from learner.demo import bootstrap
from learner.demo.bootstrap import MODEL_TYPE, DemoPaths
from learner.demo.processes import Child, ChildFailedError, ProcessGroup
from learner.event_text import describe
from learner.demo.watchdog import DEFAULT_STALL_S, Watchdog
from learner.notify import EventKind
from learner.serve.messages import event_kind
from loopwise_proto.v1 import learner_pb2 as pb
from loopwise_proto.v1 import sidecar_pb2, sidecar_pb2_grpc

if TYPE_CHECKING:
    from learner.training.jobs import Job

__all__ = ["DemoSettings", "run"]


@dataclass(frozen=True)
class DemoSettings:
    """How the demo runs (the loop's own settings are in ``bootstrap.learner_config``)."""

    seed: int = 7
    warmup_s: float = 20.0  # classic documents before the drift
    rate: float = 30.0  # documents per second
    feedback_share: float = 0.6  # documents a reviewer labels
    #: give up (exit 1) when nothing has progressed (no loop event, no training step) this long
    stall_s: float = DEFAULT_STALL_S
    deadline_s: float = 0.0  # and, when > 0, when the loop has not finished by then
    crash_learner: bool = True  # kill -9 the learner while it retrains, then start a new one


class Phase(enum.Enum):
    WARMUP = "warm-up"
    DRIFTED = "drifted"
    DEGRADED = "degraded"
    DONE = "done"


class Narrator:
    """Timestamped lines relative to the start."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def stamp(self) -> str:
        s = int(time.monotonic() - self.start)
        return f"{s // 60:02d}:{s % 60:02d}"

    def say(self, text: str, mark: str = " ") -> None:
        print(f"[{self.stamp()}] {mark} {text}", flush=True)


@dataclass(frozen=True)
class Crash:
    """The learner killed mid-retraining: when, which job, how long until a new one served."""

    at: str
    job_id: str
    progress: float
    down_s: float
    events_kept: int


@dataclass
class Seen:
    """What the loop did, for the summary."""

    events: list[tuple[str, EventKind, str, dict[str, Any]]] = field(default_factory=list)
    last_seq: int = 0
    status: dict[str, Any] = field(default_factory=dict)
    drift_at: str = ""
    degraded_at: str = ""
    crash: Crash | None = None

    def first(self, kind: EventKind, where: Callable[[dict[str, Any]], bool] = lambda d: True
              ) -> tuple[str, str, dict[str, Any]] | None:
        for stamp, k, line, details in self.events:
            if k is kind and where(details):
                return stamp, line, details
        return None


def _wait(what: str, check: Callable[[], bool], timeout_s: float, children: list[Child]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        for child in children:
            child.check_alive()
        if time.monotonic() > deadline:
            raise ChildFailedError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _progress_printer(narrator: Narrator) -> Callable[[float, dict[str, float]], None]:
    shown = [-1]

    def show(fraction: float, metrics: dict[str, float]) -> None:
        step = int(fraction * 4)
        if step > shown[0]:
            shown[0] = step
            loss = metrics.get("loss")
            narrator.say(f"  training {fraction:4.0%}" + (f"  loss {loss:.3f}" if loss is not None else ""))
    return show


def _training_jobs(paths: DemoPaths) -> list[Job]:
    """Every retraining job, read from the learner's job database."""
    db = paths.training / "jobs.db"
    if not db.exists():
        return []
    from learner.training.jobs import JobStore

    store = JobStore(db)
    try:
        return store.list(MODEL_TYPE)
    finally:
        store.close()


def _active_job(paths: DemoPaths) -> Job | None:
    return next((job for job in _training_jobs(paths) if not job.state.terminal), None)


def _training_progress(paths: DemoPaths) -> str | None:
    job = _active_job(paths)
    return None if job is None else f"retraining {job.id}: {job.progress:.0%}"


def _stop_training_workers(paths: DemoPaths) -> None:
    """Training workers run in their own sessions (they survive a learner restart in
    production); the demo ends them with everything else."""
    db = paths.training / "jobs.db"
    if not db.exists():
        return
    from learner.training.jobs import JobStore

    store = JobStore(db)
    try:
        for job in store.list(MODEL_TYPE):
            if not job.state.terminal and job.pid:
                try:
                    os.kill(job.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
    finally:
        store.close()


def _routes(data_addrs: list[str], keys: int = 50) -> set[str]:
    served = set()
    for addr in data_addrs:
        with grpc.insecure_channel(addr) as channel:
            stub = sidecar_pb2_grpc.SidecarStub(channel)
            for k in range(keys):
                r = stub.Route(sidecar_pb2.RouteRequest(model_type=MODEL_TYPE, key=f"check-{k}"), timeout=5)
                served.add(r.model_id)
    return served


def _traffic_line(status: dict[str, Any]) -> str:
    models = ", ".join(f"{m} {s['accuracy']:.0%} of {s['served']}" for m, s in status.get("models", {}).items())
    return (f"traffic: {status['served']:,} documents, {status['labels_sent']:,} labels sent; "
            f"true accuracy over the last 5 s: {models or 'n/a'}")


class Demo:
    def __init__(self, paths: DemoPaths, settings: DemoSettings) -> None:
        self.paths, self.settings = paths, settings
        self.say = Narrator()
        self.group = ProcessGroup(paths.logs, env={"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
                                                   "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        self.seen = Seen()
        self.data_addrs: list[str] = []
        self.admin: Admin | None = None
        self.learner_addr = ""
        self.learner_config = paths.root / "learner.toml"  # written by start_fleet
        self.learner: Child | None = None
        self._last_health: tuple[Any, Any] | None = None

    # -- start-up ---------------------------------------------------------------------------

    def bootstrap(self) -> str:
        s = self.settings
        self.say.say("training the production model: LoRA on MiniLM-L6 over 160 classic English documents")
        champion, accuracy = bootstrap.train_production_model(self.paths, s.seed, _progress_printer(self.say))
        self.say.say(f"registered and promoted {champion} (accuracy {accuracy:.3f} on classic documents)")
        from learner.synthetic import DocumentGenerator

        reference = [d.text for d in DocumentGenerator(seed=s.seed + 300).generate(3000)]
        bootstrap.write_reference(self.paths, MODEL_TYPE, reference)
        return champion

    def start_fleet(self) -> None:
        py = sys.executable
        sidecars = []
        for name in ("sidecar-a", "sidecar-b"):
            config = bootstrap.sidecar_config(self.paths, name)
            child = self.group.start(name, [py, "-m", "sidecar", "serve", "--config", str(config)])
            sidecars.append((child, self.paths.sidecar_dir(name) / "ready.json"))
        addrs = [ProcessGroup.wait_for_file(child, ready, 60.0) for child, ready in sidecars]
        self.data_addrs = [a["data_addr"] for a in addrs]
        for (child, _), a in zip(sidecars, addrs):
            self.say.say(f"{child.name}: data {a['data_addr']}, admin {a['admin_addr']}, "
                         f"metrics http://{a['metrics_addr']}/metrics")
        self.learner_config = bootstrap.learner_config(self.paths, [a["admin_addr"] for a in addrs])
        self.start_learner()

    def start_learner(self) -> None:
        learner = self.group.start("learner", [sys.executable, "-m", "learner.cli", "serve", "--config",
                                               str(self.learner_config)], lines=True)
        self.learner = learner
        bound = json.loads(learner.next_line(120.0))
        self.learner_addr = bound["admin_addr"]
        self.say.say(f"learner: admin {bound['admin_addr']}, metrics http://{bound.get('metrics_addr')}/metrics"
                     f"  (follow it yourself: learner events --follow --addr {bound['admin_addr']} "
                     f"--token-file {self.paths.learner_token})")
        if self.admin is not None:
            self.admin.close()
        self.admin = Admin(self.learner_addr, self.paths.learner_token.read_text().strip(), 10.0)
        admin = self.admin
        _wait("the learner to route to its champion",
              lambda: admin("GetStatus", pb.GetLearnerStatusRequest()).routing_generation >= 1, 60.0,
              self.group.children)

    def start_inference(self) -> Child:
        s = self.settings
        argv = [sys.executable, "-m", "learner.demo.inference", "--registry", str(self.paths.registry),
                "--rate", str(s.rate), "--feedback-share", str(s.feedback_share), "--seed", str(s.seed)]
        for addr in self.data_addrs:
            argv += ["--sidecar", addr]
        child = self.group.start("inference", argv, lines=True, stdin=True)
        self.say.say(f"inference server: {s.rate:.0f} documents/s through both sidecars (Route, then Record), "
                     f"a reviewer labels {s.feedback_share:.0%} of them a few seconds later (Feedback)")
        return child

    def crash_learner(self, job: Job) -> None:
        """kill -9 the learner mid-retraining and start a new one on the same database: it
        must keep every event, follow the running job (not start another) and route as before."""
        assert self.admin is not None
        before = [(e.seq, e.kind, e.message) for e in self.admin("ListEvents", pb.ListEventsRequest()).events]
        self.say.say(f"KILLING THE LEARNER (kill -9) while {job.id} trains ({job.progress:.0%}); "
                     "a new learner process takes over from the registry's database", mark="!")
        stamp, started = self.say.stamp(), time.monotonic()
        assert self.learner is not None
        self.group.kill(self.learner)
        self.start_learner()
        admin = self.admin
        _wait("the new learner to route to its champion",
              lambda: admin("GetStatus", pb.GetLearnerStatusRequest()).routing_generation >= 1, 60.0,
              self.group.children)
        down = time.monotonic() - started
        after = [(e.seq, e.kind, e.message) for e in admin("ListEvents", pb.ListEventsRequest()).events]
        if after[:len(before)] != before:
            raise ChildFailedError("the new learner lost events from before the kill")
        if _active_job(self.paths) is None and not any(j.id == job.id and j.state.terminal
                                                        for j in _training_jobs(self.paths)):
            raise ChildFailedError(f"retraining job {job.id} vanished with the killed learner")
        self.seen.crash = Crash(stamp, job.id, job.progress, down, len(before))
        self.say.say(f"new learner serving after {down:.1f} s: all {len(before)} events kept, "
                     f"job {job.id} still followed (its worker outlived the learner)")

    # -- the loop ---------------------------------------------------------------------------

    def _poll_events(self) -> None:
        assert self.admin is not None
        r = self.admin("ListEvents", pb.ListEventsRequest(after_seq=self.seen.last_seq))
        for e in r.events:
            kind = event_kind(e.kind)
            details = json.loads(e.details_json or "{}")
            line = describe(kind, e.message, details)
            self.seen.events.append((self.say.stamp(), kind, line, details))
            if kind is EventKind.HEALTH:  # repeated at every check while it lasts: say it once
                verdict = (details.get("model_id"), details.get("severity"))
                if verdict == self._last_health:
                    continue
                self._last_health = verdict
            self.say.say(line, mark="*")
            if kind is EventKind.AB_TEST:
                self._export_reference(details["challenger_id"])
        self.seen.last_seq = max(self.seen.last_seq, r.last_seq)

    def _export_reference(self, model_id: str) -> None:
        """What a feature pipeline does for a new model: its reference data (the features of
        the documents it was trained for), so that its baseline is its own once promoted."""
        from learner.synthetic import DocumentGenerator, DriftProfile

        docs = DocumentGenerator(seed=self.settings.seed + 400, drift=DriftProfile.drifted()).generate(3000)
        bootstrap.write_reference(self.paths, model_id, [d.text for d in docs])
        self.say.say(f"feature pipeline: exported reference data for {model_id} (features of drifted documents)")

    def follow(self, inference: Child) -> bool:
        """Runs until the rollback (True) or the deadline (False)."""
        s = self.settings
        phase = Phase.WARMUP
        drift_at = time.monotonic() + s.warmup_s
        deadline = time.monotonic() + s.deadline_s if s.deadline_s > 0 else float("inf")
        next_traffic = time.monotonic() + 10.0
        watchdog, training = Watchdog(s.stall_s), None
        while phase is not Phase.DONE:
            for child in self.group.children:
                child.check_alive()
            self._poll_events()
            while not inference.lines.empty():
                self.seen.status = json.loads(inference.lines.get_nowait())
            now = time.monotonic()
            if self.seen.status and now >= next_traffic:
                next_traffic = now + 10.0
                training = _training_progress(self.paths)
                self.say.say(_traffic_line(self.seen.status) + (f"; {training}" if training else ""))
            watchdog.saw((self.seen.last_seq, training, phase))
            if phase is Phase.WARMUP and now >= drift_at:
                inference.send("drift")
                self.seen.drift_at = self.say.stamp()
                self.say.say("INJECTING DRIFT: new vendor templates, and 80 % of documents now in German "
                             "or French", mark="!")
                phase = Phase.DRIFTED
            if phase is Phase.DRIFTED and s.crash_learner and self.seen.crash is None:
                job = _active_job(self.paths)
                if job is not None and job.progress >= 0.25:  # mid-training
                    self.crash_learner(job)
            promoted = self.seen.first(EventKind.PROMOTION, lambda d: "new_champion" in d)
            if phase is Phase.DRIFTED and promoted is not None:
                model = promoted[2]["new_champion"]
                inference.send(f"degrade {model}")
                self.seen.degraded_at = self.say.stamp()
                self.say.say(f"INJECTING A DEGRADATION: a faulty deploy of {model} ships a shifted label map",
                             mark="!")
                phase = Phase.DEGRADED
            if self.seen.first(EventKind.ROLLBACK) is not None:
                phase = Phase.DONE
            elif watchdog.stalled():
                self.say.say(f"nothing progressed for {watchdog.idle_s():.0f} s (no loop event, no "
                             f"training step) in phase {phase.value}", mark="!")
                return False
            elif now > deadline:
                self.say.say(f"the loop did not finish within {s.deadline_s:.0f} s", mark="!")
                return False
            time.sleep(0.5)
        return True

    # -- the end ----------------------------------------------------------------------------

    def report(self) -> Path:
        html = self.paths.root / "weekly_report.html"
        common = ["--addr", self.learner_addr, "--token-file", str(self.paths.learner_token)]
        days = (time.monotonic() - self.say.start + 30.0) / 86_400  # the demo's own period
        for fmt, out in (("html", html), ("json", html.with_suffix(".json"))):
            code = cli.main(["report", "--format", fmt, "--out", str(out), "--days", f"{days:.6f}", *common],
                            out=io.StringIO())
            if code != 0:
                raise ChildFailedError(f"learner report --format {fmt} failed with exit code {code}")
        return html

    def crashed_job_finished(self) -> bool:
        """The job running at the kill (or its retry) ended in a recorded event afterwards."""
        crash = self.seen.crash
        if crash is None:
            return True
        lineage = {crash.job_id} | {j.id for j in _training_jobs(self.paths) if j.retry_of == crash.job_id}
        return any(kind is EventKind.RETRAINING and d.get("stage") == "finished" and d.get("job_id") in lineage
                   for _, kind, _, d in self.seen.events)

    def summary(self, elapsed_s: float, routes: set[str], report: Path) -> None:
        seen, st = self.seen, self.seen.status
        print(f"\nSummary ({elapsed_s / 60:.1f} minutes)", flush=True)
        rows: list[tuple[str, str]] = [
            ("traffic", f"{st.get('served', 0):,} documents through 2 sidecars, "
                        f"{st.get('labels_sent', 0):,} human labels sent late (Feedback)"),
            ("drift injected", f"at {seen.drift_at}"),
        ]
        for title, kind, where in (
                ("drift detected", EventKind.DRIFT, lambda d: True),
                ("retraining", EventKind.RETRAINING, lambda d: d.get("outcome") == "challenger"),
                ("A/B test", EventKind.AB_TEST, lambda d: True),
                ("promotion", EventKind.PROMOTION, lambda d: "new_champion" in d)):
            hit = seen.first(kind, where)
            rows.append((title, "did not happen" if hit is None else f"at {hit[0]}: {hit[1]}"))
        if seen.crash is not None:
            c = seen.crash
            done = self.crashed_job_finished()
            rows.append(("learner crash", f"kill -9 at {c.at} while {c.job_id} trained ({c.progress:.0%}); a new "
                                          f"learner served after {c.down_s:.1f} s with all {c.events_kept} earlier "
                                          f"events; {c.job_id} " + ("finished under the new learner" if done
                                                                   else "was NOT followed to its end")))
        rows.append(("degradation", f"injected at {seen.degraded_at}"))
        promoted = seen.first(EventKind.PROMOTION, lambda d: "new_champion" in d)
        bad = promoted[2]["new_champion"] if promoted else None
        health = seen.first(EventKind.HEALTH, lambda d: d.get("severity") == "critical" and d.get("model_id") == bad)
        rows.append(("health check", "did not fire" if health is None else f"at {health[0]}: {health[1]}"))
        rollback = seen.first(EventKind.ROLLBACK)
        rows.append(("rollback", "did not happen" if rollback is None else f"at {rollback[0]}: {rollback[1]}"))
        rows.append(("routing now", f"every sidecar routes {MODEL_TYPE} to {', '.join(sorted(routes))}"))
        rows.append(("weekly report", f"{report}  (JSON: {report.with_suffix('.json').name})"))
        rows.append(("logs", f"{self.paths.logs}/"))
        width = max(len(r[0]) for r in rows)
        for title, text in rows:
            print(f"  {title:<{width}}  {text}", flush=True)


def run(workdir: Path, settings: DemoSettings) -> int:
    started = time.monotonic()
    paths = bootstrap.prepare(workdir)
    demo = Demo(paths, settings)
    try:
        champion = demo.bootstrap()
        demo.start_fleet()
        inference = demo.start_inference()
        if not demo.follow(inference):
            demo.say.say(f"logs: {paths.logs}; to wait longer: make demo DEMO_ARGS=\"--stall-s "
                         f"{2 * settings.stall_s:.0f}\" (or python -m learner.demo --stall-s N)", mark="!")
            return 1
        time.sleep(1.0)  # let the rolled-back routing reach the data planes' first requests
        routes = _routes(demo.data_addrs)
        restored = demo.seen.first(EventKind.ROLLBACK)
        expected = restored[2].get("restored_champion") if restored else champion
        report = demo.report()
        demo.summary(time.monotonic() - started, routes, report)
        return 0 if routes == {expected} and demo.crashed_job_finished() else 1
    except ChildFailedError as exc:
        demo.say.say(str(exc), mark="!")
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process", flush=True)
        return 130
    finally:
        statuses = demo.group.stop_all()
        _stop_training_workers(paths)
        if demo.admin is not None:
            demo.admin.close()
        print("stopped: " + ", ".join(f"{name} (exit {code})" for name, code in statuses), flush=True)
