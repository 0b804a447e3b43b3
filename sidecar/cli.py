"""Command line: ``sidecar serve [--config FILE] [--data-addr ...]`` (also ``python -m sidecar``)
and ``sidecar health [--plane admin|data]`` (a probe: exit 0 when the plane answers SERVING).

Exit status 2 on a configuration error (every problem printed, each with its key).

``health`` reads the same configuration as ``serve`` and connects the way a client must: with
TLS when ``server.tls_cert_file`` is set, presenting the sidecar's own certificate (issue it
for client and server use) and verifying the server with ``server.tls_client_ca_file`` -- the
probe Kubernetes' native gRPC probes cannot make, since they speak plain text.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys

from sidecar.config import FLAG_KEYS, ConfigError, SidecarConfig, load_config


def _parser() -> argparse.ArgumentParser:
    from sidecar import __version__

    p = argparse.ArgumentParser(prog="sidecar", description="Loopwise sidecar",
                                epilog="exit codes: 0 success (health: SERVING), 1 not serving, "
                                "2 configuration or usage error")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the sidecar until SIGTERM")
    s.add_argument("--config", type=pathlib.Path, help="TOML configuration file")
    for name in FLAG_KEYS:
        s.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                       help=f"sets {FLAG_KEYS[name]}")
    s.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    h = sub.add_parser("health", help="exit 0 when a plane answers SERVING (probes)")
    h.add_argument("--config", type=pathlib.Path, help="TOML configuration file")
    h.add_argument("--plane", choices=["admin", "data"], default="admin", help="which plane (default admin)")
    h.add_argument("--server-name", help="name in the server's certificate (default: the host)")
    h.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    return p


def _health(config: SidecarConfig, plane: str, server_name: str | None, timeout_s: float) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from sidecar.tls import TlsFiles, open_channel

    s = config.server
    addr = s.admin_addr if plane == "admin" else s.data_addr
    service = "loopwise.v1.Admin" if plane == "admin" else "loopwise.v1.Sidecar"
    tls = (None if s.tls_cert_file is None
           else TlsFiles(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file, server_name))
    with open_channel(addr, tls) as channel:
        try:
            r = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as e:
            print(f"{plane} plane at {addr}: {e.code().name} {e.details()}", file=sys.stderr)
            return 1
    return 0 if r.status == health_pb2.HealthCheckResponse.SERVING else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "health":
        try:
            config = load_config(args.config, os.environ)
        except ConfigError as e:
            print(e, file=sys.stderr)
            return 2
        return _health(config, args.plane, args.server_name, args.timeout)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, os.environ, {k: getattr(args, k) for k in FLAG_KEYS})
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    from sidecar.server import serve  # grpc and statcore load only when serving

    return serve(config)
