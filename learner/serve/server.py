"""``learner serve``: the admin gRPC API, ``/metrics``, and the loop on its own thread.

``create_server(config, learner) -> (server, port)`` builds the gRPC server (bearer-token
interceptor, ``LearnerAdmin``, health, reflection) and binds it without starting it;
``create_metrics_server`` does the same for ``/metrics``; :func:`serve` builds every concrete
object once (registry, fleet, retrainer, metrics, ``ContinuousLearner``) and runs until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from learner.continuous_learner import ContinuousLearner
from learner.fleet import Fleet
from learner.metrics import LearnerMetrics
from learner.registry import ModelRegistry
from learner.serve.config import ServeConfig
from learner.serve.runner import LearnerThread
from learner.serve.servicer import LearnerAdminServicer
from learner.loop.store import EventReader
from learner.notify import Notifier
from learner.reference import ReferenceDirectory
from learner.serve.wiring import (
    build_fleet, build_retrainer, read_token, registry_config, sample_sources,
)
from loopwise_proto.v1 import learner_pb2
from sidecar.auth import BearerTokenInterceptor
from sidecar.registration import add_service
from sidecar.tls import add_port

__all__ = ["create_server", "create_metrics_server", "build_learner_thread", "serve", "SERVICE"]

log = logging.getLogger(__name__)

SERVICE = learner_pb2.DESCRIPTOR.services_by_name["LearnerAdmin"].full_name
Clock = Callable[[], float]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def create_server(config: ServeConfig, learner: LearnerThread[ContinuousLearner], *,
                  token: str | None = None, events: EventReader | None = None) -> tuple[grpc.Server, int]:
    """The admin server, bound to ``config.server.admin_addr`` (port 0: a free port), not
    started. ``token`` defaults to the content of ``server.admin_token_file``; ``events`` (the
    learner's event log) lets ``ListEvents`` answer without waiting for the learner's thread."""
    token = token if token is not None else read_token(config.server.admin_token_file)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=config.server.max_workers),
                         interceptors=[BearerTokenInterceptor(token)])
    # Request bytes are decoded in the handler: undecodable bytes are INVALID_ARGUMENT, not INTERNAL.
    add_service(server, learner_pb2.DESCRIPTOR.services_by_name["LearnerAdmin"],
                LearnerAdminServicer(learner, events=events), on_malformed=lambda: None)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = add_port(server, config.server.admin_addr, config.tls if config.tls.enabled else None)
    if port == 0:
        raise OSError(f"cannot bind {config.server.admin_addr}")
    return server, port


def create_metrics_server(addr: str, registry: CollectorRegistry) -> tuple[ThreadingWSGIServer, int]:
    """``/metrics`` over HTTP on ``addr`` (port 0: a free port), not started."""
    host, _, port = addr.rpartition(":")
    httpd = make_server(host, int(port), make_wsgi_app(registry), ThreadingWSGIServer,
                        handler_class=_QuietHandler)
    return httpd, httpd.server_port


def build_learner_thread(config: ServeConfig, metrics: LearnerMetrics, *,
                         fleet: Fleet | None = None, clock: Clock = time.time,
                         notifier: Notifier | None = None) -> LearnerThread[ContinuousLearner]:
    """The learner thread; on it, the registry, fleet (``fleet`` overrides the config's),
    retrainer and ``ContinuousLearner`` are built once. Not started."""
    closers: list[Callable[[], None]] = []

    def build(sleeper: Callable[[float], None]) -> ContinuousLearner:
        registry = ModelRegistry(config=registry_config(config.registry, actor="learner"),
                                 clock=clock)
        closers.append(registry.close)
        tls = config.tls if config.tls.enabled else None
        the_fleet = fleet if fleet is not None else build_fleet(config.fleet, clock, tls=tls)
        sources = sample_sources(config.fleet, the_fleet.sidecars(), tls=tls) if fleet is None else {}
        retraining = build_retrainer(config.training, config.learning, registry, clock, sources,
                                     database=config.registry)
        if retraining is not None:
            closers.append(retraining.close)
        learner = ContinuousLearner(
            config.learning, registry=registry,
            fleet=the_fleet,
            retrainer=None if retraining is None else retraining.retrainer,
            reference_data=(None if config.registry.reference_dir is None
                            else ReferenceDirectory(config.registry.reference_dir)),
            notifier=notifier, metrics=metrics, clock=clock, sleeper=sleeper)
        closers.insert(1, learner.close)  # after the retrainer closes: event reader, registry
        return learner

    def close(_: ContinuousLearner | None) -> None:
        for closer in reversed(closers):
            try:
                closer()
            except Exception:
                log.exception("closing failed")

    return LearnerThread(build, on_exit=close)


def serve(config: ServeConfig, *, ready: Callable[[dict[str, Any]], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): learner thread, admin API, ``/metrics``.

    Prints one JSON line with the bound addresses (``ready`` receives the same dict).
    """
    stop = stop or threading.Event()
    metrics = LearnerMetrics()
    learner = build_learner_thread(config, metrics)
    learner.start()
    events = EventReader(registry_config(config.registry).location)
    server, port = create_server(config, learner, events=events)
    httpd = None
    addresses = {"admin_addr": f"{config.server.admin_addr.rpartition(':')[0]}:{port}"}
    if config.server.metrics_addr is not None:
        httpd, mport = create_metrics_server(config.server.metrics_addr, metrics.registry)
        threading.Thread(target=httpd.serve_forever, name="learner-metrics", daemon=True).start()
        addresses["metrics_addr"] = f"{config.server.metrics_addr.rpartition(':')[0]}:{mport}"
    server.start()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    print(json.dumps(addresses), flush=True)
    if ready is not None:
        ready(addresses)
    log.info("learner serving %s", addresses)
    try:
        stop.wait()
    finally:
        log.info("stopping: draining admin calls, then the loop")
        server.stop(config.server.grace_s).wait()
        learner.stop()
        events.close()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
