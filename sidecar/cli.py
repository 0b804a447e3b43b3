"""Command line: ``sidecar serve [--config FILE] [--data-addr ...]`` (also ``python -m sidecar``).

Exit status 2 on a configuration error (every problem printed, each with its key).
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys

from sidecar.config import FLAG_KEYS, ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sidecar", description="Loopwise sidecar")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the sidecar until SIGTERM")
    s.add_argument("--config", type=pathlib.Path, help="TOML configuration file")
    for name in FLAG_KEYS:
        s.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                       help=f"sets {FLAG_KEYS[name]}")
    s.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, os.environ, {k: getattr(args, k) for k in FLAG_KEYS})
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    from sidecar.server import serve  # grpc and statcore load only when serving

    return serve(config)
