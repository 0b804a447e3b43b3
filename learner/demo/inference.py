"""The demo's simulated inference server: real models, real sidecars, simulated users.

``python -m learner.demo.inference --registry ROOT --sidecar ADDR [--sidecar ADDR ...]``

Every tick it draws synthetic business documents, asks a sidecar which model serves each one
(``Route``, keyed by document id: sticky), classifies them with that model — the LoRA adapter
loaded from the registry, sha256-verified, cached per model id — and records the prediction,
its confidence, the latency, the document's features and its text (``Record``, batched by the
client library). For a share of the documents a "human reviewer" sends the true type a few
seconds later (``Feedback`` with ``human_correction``): the labels the A/B test, the health
check and retraining use. The pods alternate between the sidecars given.

Commands on stdin, one per line: ``drift`` (new vendor templates and German/French documents
from now on), ``degrade MODEL_ID`` (a faulty deploy: that model's label map is shifted by one),
``heal``. One JSON status line per ``--status-every-s`` on stdout: documents served, labels
sent, and per model the documents and true accuracy since the previous line.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import queue
import random
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc

from learner.demo.features import features
from learner.registry import ModelRegistry
from learner.synthetic import DocumentGenerator, DriftProfile
from learner.synthetic.documents import Document
from learner.training.serving import ServedModel, load_registered
from sidecar.client import SidecarClient

__all__ = ["main"]

log = logging.getLogger("learner.demo.inference")


@dataclass
class Controls:
    """What the director has switched on (set from the stdin thread)."""

    drift: bool = False
    degraded: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)


def read_commands(controls: Controls, stream: Iterable[str] | None = None) -> None:
    for raw in stream if stream is not None else sys.stdin:
        words = raw.split()
        if not words:
            continue
        if words[0] == "drift":
            controls.drift = True
        elif words[0] == "degrade" and len(words) == 2:
            controls.degraded.add(words[1])
        elif words[0] == "heal":
            controls.degraded.clear()
        elif words[0] == "stop":
            break
        else:
            log.warning("unknown command %r", raw.strip())
    controls.stop.set()  # stdin closed: the director is gone


class Models:
    """Registered models by id, loaded on first use."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._loaded: dict[str, ServedModel] = {}

    def get(self, model_id: str) -> ServedModel:
        model = self._loaded.get(model_id)
        if model is None:
            started = time.perf_counter()
            model = load_registered(self._registry, model_id)
            self._loaded[model_id] = model
            log.info("loaded %s from the registry in %.1f s", model_id, time.perf_counter() - started)
        return model


@dataclass(order=True)
class _Due:
    at: float
    pod: int = field(compare=False)
    request_id: str = field(compare=False)
    label: str = field(compare=False)


class Reviewer:
    """Sends the true document type late, for a share of the documents, from its own thread."""

    def __init__(self, clients: list[SidecarClient], share: float, delay_s: float,
                 rng: random.Random) -> None:
        self._clients, self._share, self._delay, self._rng = clients, share, delay_s, rng
        self._inbox: queue.Queue[_Due] = queue.Queue()
        self.sent = 0
        self.failed = 0

    def maybe_review(self, pod: int, request_id: str, truth: str, now: float) -> None:
        if self._rng.random() < self._share:
            self._inbox.put(_Due(now + self._delay * (0.5 + self._rng.random()), pod, request_id, truth))

    def run(self, stop: threading.Event, primary_field: str) -> None:
        due: list[_Due] = []
        while not stop.is_set():
            try:
                heapq.heappush(due, self._inbox.get(timeout=0.1))
            except queue.Empty:
                pass
            while due and due[0].at <= time.time():
                item = heapq.heappop(due)
                try:
                    self._clients[item.pod].feedback({primary_field: item.label}, request_id=item.request_id,
                                                     human_correction=True, timeout_s=2.0)
                    self.sent += 1
                except grpc.RpcError as exc:
                    self.failed += 1
                    log.debug("feedback for %s failed: %s", item.request_id, exc.code().name)


def serve_batch(docs: list[Document], pod: int, start: int, client: SidecarClient, models: Models,
                controls: Controls, model_type: str, primary_field: str,
                tally: defaultdict[str, Counter[str]]) -> list[tuple[str, str]]:
    """Route, classify and record ``docs`` through one pod; (request id, truth) per document."""
    by_model: dict[str, list[tuple[int, str]]] = {}
    for i, _ in enumerate(docs):
        doc_id = f"DOC-{start + i}"
        decision = client.route(model_type, key=doc_id)
        by_model.setdefault(decision.model_id, []).append((i, doc_id))
    out = []
    for model_id, rows in by_model.items():
        model = models.get(model_id)
        t0 = time.perf_counter()
        results = model.classify([docs[i].text for i, _ in rows])
        latency_ms = 1000 * (time.perf_counter() - t0) / len(rows)
        for (i, doc_id), (label, confidence) in zip(rows, results):
            if model_id in controls.degraded:  # the faulty deploy's shifted label map
                label = model.labels[(model.labels.index(label) + 1) % len(model.labels)]
            request_id = f"req-{pod}-{start + i}"
            client.record(request_id, model_type, model_id, confidence=confidence, latency_ms=latency_ms,
                          document_id=doc_id, numeric=features(docs[i].text),
                          prediction={primary_field: label}, payload=docs[i].text.encode())
            tally[model_id]["served"] += 1
            tally[model_id]["correct"] += label == docs[i].label
            out.append((request_id, docs[i].label))
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    controls = Controls()
    signal.signal(signal.SIGTERM, lambda *_: controls.stop.set())
    threading.Thread(target=read_commands, args=(controls,), daemon=True, name="commands").start()
    registry = ModelRegistry(args.registry, actor="inference")
    models = Models(registry)
    clients = [SidecarClient(addr, flush_interval_s=0.25, timeout_s=2.0) for addr in args.sidecar]
    rng = random.Random(args.seed)
    reviewer = Reviewer(clients, args.feedback_share, args.feedback_delay_s, rng)
    threading.Thread(target=reviewer.run, args=(controls.stop, args.primary_field), daemon=True,
                     name="reviewer").start()
    classic = DocumentGenerator(seed=args.seed)
    drifted = DocumentGenerator(seed=args.seed + 1, drift=DriftProfile.drifted())
    tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
    served = 0
    next_status = time.monotonic() + args.status_every_s
    per_tick = max(1, round(args.rate * args.tick_s))
    try:
        while not controls.stop.is_set():
            tick = time.monotonic()
            docs = (drifted if controls.drift else classic).generate(per_tick)
            pod = (served // per_tick) % len(clients)
            done = serve_batch(docs, pod, served, clients[pod], models, controls, args.model_type,
                               args.primary_field, tally)
            now = time.time()
            for request_id, truth in done:
                reviewer.maybe_review(pod, request_id, truth, now)
            served += len(docs)
            if time.monotonic() >= next_status:
                next_status += args.status_every_s
                print(json.dumps({
                    "served": served, "labels_sent": reviewer.sent, "drift": controls.drift,
                    "degraded": sorted(controls.degraded),
                    "dropped": sum(c.stats().dropped for c in clients),
                    "models": {m: {"served": c["served"], "accuracy": c["correct"] / c["served"]}
                               for m, c in sorted(tally.items()) if c["served"]},
                }), flush=True)
                tally.clear()
            controls.stop.wait(max(0.0, args.tick_s - (time.monotonic() - tick)))
    finally:
        for client in clients:
            client.close()
        registry.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--registry", required=True, help="the learner's registry root")
    parser.add_argument("--sidecar", action="append", required=True, help="a sidecar's data address")
    parser.add_argument("--model-type", default="doc_classifier")
    parser.add_argument("--primary-field", default="doc_type", help="the sidecars' primary_field")
    parser.add_argument("--rate", type=float, default=30.0, help="documents per second")
    parser.add_argument("--tick-s", type=float, default=0.5)
    parser.add_argument("--feedback-share", type=float, default=0.6)
    parser.add_argument("--feedback-delay-s", type=float, default=2.0)
    parser.add_argument("--status-every-s", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
