"""Server factory and lifecycle: ``create_server(config) -> (server, ports)``, ``serve(config)``.

``create_server`` builds every object once (store, routing, baselines, windows, ingest,
feedback, metrics), binds the data plane, the admin plane and the metrics endpoint (port 0
picks a free port) and returns without serving. ``SidecarServer.start`` serves;
``SidecarServer.stop`` refuses new RPCs, gives in-flight ones ``server.grace_s``, then flushes
windows and the sample log and closes the store -- after the grace period (plus
``DRAIN_SLACK_S``) whether or not every RPC has ended: grpcio's own stop is never waited on
without bound. ``serve`` runs until SIGTERM/SIGINT and then exits, even if a stuck RPC
thread is left (it can no longer reach the closed store).
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from loopwise_proto.v1 import admin_pb2, sidecar_pb2
from sidecar.auth import BearerTokenInterceptor
from sidecar.baselines import BaselineBook
from sidecar.clock import Clock, SystemClock
from sidecar.config import SidecarConfig
from sidecar.errors import RejectReason
from sidecar.feedback import FeedbackJoiner
from sidecar.ingest import Ingest
from sidecar.metrics import Plane, SidecarMetrics, StateCollector
from sidecar.routing_state import RoutingState
from sidecar.servicers import (AdminServicer, Domain, SidecarServicer, add_admin_servicer,
                               add_sidecar_servicer)
from sidecar.tls import TlsFiles, add_port
from sidecar.tokens import read_token_file
from sidecar.windows import WindowBook
from statcore import Store

log = logging.getLogger(__name__)

#: Seconds past ``grace_s`` that the drain may take before the final flush goes ahead anyway.
DRAIN_SLACK_S = 1.0

DATA_SERVICE = sidecar_pb2.DESCRIPTOR.services_by_name["Sidecar"].full_name
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name


@dataclass(frozen=True)
class Ports:
    """The addresses actually bound (port 0 resolved)."""

    data_addr: str
    admin_addr: str
    metrics_addr: str

    def as_json(self) -> str:
        return json.dumps({"pid": os.getpid(), "data_addr": self.data_addr,
                           "admin_addr": self.admin_addr, "metrics_addr": self.metrics_addr})


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _bind(server: grpc.Server, addr: str, tls: TlsFiles | None) -> str:
    port = add_port(server, addr, tls)
    if addr.startswith("unix:"):
        return addr
    if port == 0:
        raise OSError(f"cannot bind {addr}")
    return f"{addr.rpartition(':')[0]}:{port}"


class Flusher(threading.Thread):
    """Every ``interval_s``: writes changed windows and flushes the sample log (one synced
    transaction: ``sidecar.windows``), and deletes windows past retention. Between ticks, a
    sample-log backlog of ``ingest.flush_max_pending`` records is flushed by statcore's own
    flush thread (requested by ingest, no GIL needed); at twice that, ingest flushes itself
    (``flush_samples``)."""

    def __init__(self, domain: Domain, interval_s: float, retention_ms: int) -> None:
        super().__init__(name="sidecar-flusher", daemon=True)
        self._d = domain
        self._interval = interval_s
        self._retention = retention_ms
        self._stop_event = threading.Event()
        domain.ingest.flush_now = self.flush_samples

    def flush_once(self) -> None:
        # One transaction: the changed windows, their high-water seq and the sample log.
        self._d.windows.flush(self._d.clock.now_ms())

    def flush_samples(self) -> None:
        """Flushes the sample log in the calling thread (ingest's back-pressure); a failure is
        logged and the records stay buffered for the flusher's next try."""
        try:
            self._d.store.flush(self._d.clock.now_ms())
        except Exception:  # noqa: BLE001
            log.exception("flush failed")

    def run(self) -> None:
        ticks = 0
        while not self._stop_event.wait(self._interval):
            try:
                self.flush_once()
                ticks += 1
                if ticks % 600 == 1:
                    self._d.store.delete_windows_before(self._d.clock.now_ms() - self._retention)
            except Exception:  # noqa: BLE001 - keep flushing; the data stays buffered
                log.exception("flush failed")

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()


class HandlerPool(futures.ThreadPoolExecutor):
    """The RPC thread pool of one plane, counting the handlers it is running: grpcio's
    shutdown event does not wait for handler threads, so the drain waits for this count."""

    def __init__(self, max_workers: int, name: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._idle = threading.Condition()
        self._running = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._done()

        with self._idle:
            self._running += 1
        try:
            return super().submit(run)
        except RuntimeError:
            self._done()
            raise

    def _done(self) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Whether every handler ended within ``timeout_s``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, max(0.0, timeout_s))


class SidecarServer:
    """The data and admin gRPC servers, the metrics endpoint and the flusher."""

    def __init__(self, domain: Domain, data: tuple[grpc.Server, HandlerPool],
                 admin: tuple[grpc.Server, HandlerPool],
                 metrics_httpd: ThreadingWSGIServer, health_servicers: list[health.HealthServicer],
                 flusher: Flusher, grace_s: float) -> None:
        self.domain = domain
        (self._data, self._data_pool), (self._admin, self._admin_pool) = data, admin
        self._httpd = metrics_httpd
        self._health = health_servicers
        self._flusher = flusher
        self._grace = grace_s
        self._stopped = False

    def start(self) -> None:
        self._data.start()
        self._admin.start()
        threading.Thread(target=self._httpd.serve_forever, name="sidecar-metrics",
                         daemon=True).start()
        self._flusher.start()

    def stop(self) -> bool:
        """Graceful and bounded: refuse new RPCs, let in-flight ones drain for the grace period,
        then flush everything and close the store whether or not they have ended. Returns
        whether every RPC ended in time. Idempotent."""
        if self._stopped:
            return True
        self._stopped = True
        for h in self._health:
            h.enter_graceful_shutdown()
        self.domain.routing.close()
        drained = self._drain()
        if not drained:
            log.warning("RPCs still running %.1f s after shutdown began: flushing and closing "
                        "anyway", self._grace + DRAIN_SLACK_S)
        self._flusher.stop()
        try:
            self._flusher.flush_once()
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            self.domain.store.close()
        return drained

    def _drain(self) -> bool:
        """Stops both gRPC servers (on a helper thread: grpcio's ``stop`` itself can block)
        and waits at most ``grace_s + DRAIN_SLACK_S`` for them and their handlers."""
        deadline = time.monotonic() + self._grace + DRAIN_SLACK_S
        done = threading.Event()

        def drain() -> None:
            events = [self._data.stop(self._grace), self._admin.stop(self._grace)]
            for event in events:
                event.wait()
            done.set()

        threading.Thread(target=drain, name="sidecar-drain", daemon=True).start()
        return (done.wait(deadline - time.monotonic())
                and self._data_pool.wait_idle(deadline - time.monotonic())
                and self._admin_pool.wait_idle(deadline - time.monotonic()))


def build_domain(config: SidecarConfig, clock: Clock, registry: CollectorRegistry) -> Domain:
    ing = config.ingest
    store_cfg = config.store
    store = Store(
        store_cfg.db, map_size=store_cfg.map_size, max_map_size=store_cfg.max_map_size,
        max_samples=store_cfg.max_samples,
        max_age_ms=None if store_cfg.max_age_s is None else int(store_cfg.max_age_s * 1000))
    routing = RoutingState(store)
    baselines = BaselineBook(store, ing.fields)
    windows = WindowBook(store, ing.window_s * 1000, baselines.layout_for, baselines.epochs(),
                         cut_ms=routing.last_change_ms)
    windows.restore(clock.now_ms())
    replayed = windows.replay()  # records the log kept but the windows missed (a crash)
    if replayed:
        log.info("replayed %d logged records into the aggregate windows", replayed)
    metrics = SidecarMetrics(registry)
    registry.register(StateCollector(windows, baselines, store, lambda: routing.generation, clock))
    return Domain(
        config=ing, store=store, routing=routing, baselines=baselines, windows=windows,
        ingest=Ingest(ing, store, windows, metrics.latency),
        feedback=FeedbackJoiner(store, windows, baselines.layout_for,
                                ing.primary_field, ing.max_payload_bytes, clock,
                                max_json_depth=ing.max_json_depth),
        metrics=metrics, clock=clock)


def _grpc_server(config: SidecarConfig, name: str, interceptors: list[grpc.ServerInterceptor]
                 ) -> tuple[grpc.Server, HandlerPool]:
    size = config.server.max_message_bytes
    pool = HandlerPool(config.server.workers, f"sidecar-{name}")
    return grpc.server(
        pool,
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", size),
                 ("grpc.max_send_message_length", size),
                 ("grpc.so_reuseport", 0)]), pool


def _with_health_and_reflection(server: grpc.Server, services: list[str]
                                ) -> health.HealthServicer:
    h = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(h, server)
    for name in ["", *services]:
        h.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = [*services, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return h


def create_server(config: SidecarConfig, *, clock: Clock | None = None,
                  registry: CollectorRegistry | None = None) -> tuple[SidecarServer, Ports]:
    """Builds and binds everything (nothing is served until ``start``)."""
    clock = clock or SystemClock()
    registry = registry if registry is not None else CollectorRegistry()
    domain = build_domain(config, clock, registry)
    try:
        token = read_token_file(config.server.admin_token_file)
        data, data_pool = _grpc_server(config, "data", [])
        add_sidecar_servicer(SidecarServicer(domain), data)
        admin, admin_pool = _grpc_server(config, "admin", [BearerTokenInterceptor(
            token, lambda: domain.metrics.reject(RejectReason.UNAUTHENTICATED, Plane.ADMIN))])
        add_admin_servicer(AdminServicer(domain), admin)
        healths = [_with_health_and_reflection(data, [DATA_SERVICE]),
                   _with_health_and_reflection(admin, [ADMIN_SERVICE])]
        tls = None
        if config.server.tls_cert_file is not None:
            tls = TlsFiles(config.server.tls_cert_file, config.server.tls_key_file,
                           config.server.tls_client_ca_file)
        data_addr = _bind(data, config.server.data_addr, tls)
        admin_addr = _bind(admin, config.server.admin_addr, tls)
        host, _, port = config.server.metrics_addr.rpartition(":")
        httpd = make_server(host, int(port), make_wsgi_app(registry),
                            ThreadingWSGIServer, handler_class=_QuietHandler)
    except Exception:
        domain.store.close()
        raise
    ports = Ports(data_addr, admin_addr, f"{host}:{httpd.server_port}")
    flusher = Flusher(domain, config.ingest.flush_interval_s, config.ingest.retention_s * 1000)
    server = SidecarServer(domain, (data, data_pool), (admin, admin_pool), httpd, healths,
                           flusher, config.server.grace_s)
    return server, ports


def _write_ready(path: pathlib.Path, ports: Ports) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(ports.as_json())
    os.replace(tmp, path)


def serve(config: SidecarConfig) -> int:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully (flushing). Returns 0."""
    server, ports = create_server(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    log.info("sidecar serving: data=%s admin=%s metrics=%s", ports.data_addr,
             ports.admin_addr, ports.metrics_addr)
    if config.server.ready_file is not None:
        _write_ready(config.server.ready_file, ports)
    print(ports.as_json(), flush=True)
    stop.wait()
    log.info("shutting down")
    if not server.stop():
        # Flushed and closed; only stuck RPC threads remain, and the interpreter would wait
        # for them at exit (grpcio's worker pool is not daemonic): leave without them.
        logging.shutdown()
        os._exit(0)
    return 0
