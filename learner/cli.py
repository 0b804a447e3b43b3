"""``learner``: the admin command line.

Readable tables by default, ``--json`` for scripts, and exit codes scripts can branch on
(:class:`ExitCode`). Until the learner's admin gRPC API exists, commands work on a registry
directory (``--registry-root``, default ``./model_registry``); commands that need the running
learner's state (A/B tests, routing pushes, ``serve``) say so and exit with ``UNAVAILABLE``.

    learner status
    learner models list [--model-type T] [--status S] | show ID | history --model-type T
    learner drift check --baseline A.npy --current B.npy [--psi-threshold 0.25]
    learner drift report --model-type T
    learner ab create|evaluate|list ...
    learner promote MODEL_ID --reason "..."
    learner rollback --model-type T --reason "..."
    learner report
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from learner.drift import DriftDetector
from learner.registry import ModelRegistry, RegistryConfig, RegistryError
from learner.registry.errors import InvalidTransitionError, NoPreviousChampionError

__all__ = ["ExitCode", "main", "build_parser"]


class ExitCode(enum.IntEnum):
    OK = 0
    #: ``drift check`` found drift (so ``learner drift check ... || retrain`` works).
    DRIFT_DETECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    INVALID = 4
    UNAVAILABLE = 5


class CliError(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns, one header row and a rule."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _registry(args: argparse.Namespace) -> ModelRegistry:
    config = RegistryConfig(root=Path(args.registry_root), actor="learner-cli")
    if not config.database_path.exists():
        raise CliError(f"no registry at {config.root} (use --registry-root)", ExitCode.NOT_FOUND)
    return ModelRegistry(config=config)


def _emit(args: argparse.Namespace, data: Any, human: str, out: TextIO) -> None:
    out.write((json.dumps(data, indent=2, default=str) if args.json else human) + "\n")


# ---- commands ------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, out: TextIO) -> ExitCode:
    with _registry(args) as reg:
        stats = reg.get_statistics()
    rows = [(t, mid) for t, mid in sorted(stats["champions"].items())]
    human = (f"models: {stats['total_models']}  ledger entries: {stats['ledger_entries']}  "
             f"storage: {stats['storage_size_mb']:.1f} MB\n"
             + table([(k, v) for k, v in stats["by_status"].items()], ["status", "count"]) + "\n\n"
             + table(rows, ["model type", "champion"]))
    _emit(args, stats, human, out)
    return ExitCode.OK


def cmd_models(args: argparse.Namespace, out: TextIO) -> ExitCode:
    data: Any
    with _registry(args) as reg:
        if args.models_command == "list":
            records = reg.list_models(args.model_type, args.status)
            data = [r.to_dict() for r in records]
            human = table([(r["id"], r["model_type"], r["version"], r["status"],
                            json.dumps(r["metrics"])[:60]) for r in data],
                          ["id", "type", "version", "status", "metrics"])
        elif args.models_command == "show":
            data = reg.get_model(args.model_id).to_dict()
            human = "\n".join(f"{k:>14}: {v}" for k, v in data.items())
        else:
            entries = reg.get_promotion_history(args.model_type)
            data = [{"seq": e.seq, "at": e.at, "model_id": e.model_id, "action": e.action.value,
                     "actor": e.actor, "reason": e.reason, "statistics": dict(e.statistics)}
                    for e in entries]
            human = table([(d["seq"], d["at"], d["model_id"], d["action"], d["actor"], d["reason"])
                           for d in data], ["seq", "at", "model", "action", "actor", "reason"])
    _emit(args, data, human, out)
    return ExitCode.OK


def _load(path: str) -> np.ndarray:
    p = Path(path)
    if p.suffix == ".npy":
        return np.asarray(np.load(p), dtype=np.float64)
    return np.loadtxt(p, delimiter=",", ndmin=2)


def cmd_drift(args: argparse.Namespace, out: TextIO) -> ExitCode:
    if args.drift_command == "report":
        raise CliError("drift reports of the running learner need its admin API (not available "
                       "yet); use `learner drift check` on exported data", ExitCode.UNAVAILABLE)
    report = DriftDetector(psi_threshold=args.psi_threshold).detect_data_drift(
        _load(args.baseline), _load(args.current))
    rows = [(f.name, f"{f.psi:.4f}", f"{f.ks_statistic:.4f}", f"{f.ks_adjusted_pvalue:.2e}",
             f"{f.wasserstein:.4f}", "DRIFT" if f.drifted else "")
            for f in report.features.values()]
    human = (f"{report.message}  PSI={report.psi_score:.4f}  severity={report.severity.value}\n"
             + table(rows, ["feature", "psi(10 bins)", "ks", "ks p (BH)", "w1", ""]))
    _emit(args, report.to_dict(), human, out)
    return ExitCode.DRIFT_DETECTED if report.drift_detected else ExitCode.OK


def cmd_ab(args: argparse.Namespace, out: TextIO) -> ExitCode:
    raise CliError("A/B tests live in the running learner: `learner ab` needs its admin API "
                   "(not available yet)", ExitCode.UNAVAILABLE)


def cmd_promote(args: argparse.Namespace, out: TextIO) -> ExitCode:
    with _registry(args) as reg:
        previous = reg.promote_to_champion(args.model_id, reason=args.reason,
                                           metrics={"manual": True})
    data = {"promoted": args.model_id, "previous_champion": previous, "routing_pushed": False}
    _emit(args, data, f"promoted {args.model_id} (replaced {previous}); routing is pushed by the "
                      "running learner on its next tick", out)
    return ExitCode.OK


def cmd_rollback(args: argparse.Namespace, out: TextIO) -> ExitCode:
    with _registry(args) as reg:
        current = reg.get_champion(args.model_type)
        restored = reg.rollback_to_previous_champion(args.model_type, reason=args.reason)
    data = {"model_type": args.model_type, "previous_champion": current and current["id"],
            "restored_champion": restored, "routing_pushed": False}
    _emit(args, data, f"rolled back {args.model_type}: {current and current['id']} -> {restored}", out)
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> ExitCode:
    with _registry(args) as reg:
        stats = reg.get_statistics()
        history = {t: [e.action.value for e in reg.get_promotion_history(t)] for t in stats["by_type"]}
    data = {"registry": stats, "transitions": history}
    rows = [(t, stats["champions"].get(t), history[t].count("promote"), history[t].count("rollback"))
            for t in sorted(history)]
    _emit(args, data, table(rows, ["model type", "champion", "promotions", "rollbacks"]), out)
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace, out: TextIO) -> ExitCode:
    raise CliError("`learner serve` (admin gRPC API and /metrics) is not available yet",
                   ExitCode.UNAVAILABLE)


# ---- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--registry-root", default="model_registry", help="registry directory")
    parser = argparse.ArgumentParser(prog="learner", description="Loopwise learner admin CLI",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", parents=[common]).set_defaults(run=cmd_status)
    models = sub.add_parser("models", parents=[common]).add_subparsers(dest="models_command", required=True)
    listing = models.add_parser("list", parents=[common])
    listing.add_argument("--model-type")
    listing.add_argument("--status")
    models.add_parser("show", parents=[common]).add_argument("model_id")
    models.add_parser("history", parents=[common]).add_argument("--model-type", required=True)
    for p in models.choices.values():
        p.set_defaults(run=cmd_models)
    drift = sub.add_parser("drift", parents=[common]).add_subparsers(dest="drift_command", required=True)
    check = drift.add_parser("check", parents=[common])
    check.add_argument("--baseline", required=True, help=".npy or .csv (rows x features)")
    check.add_argument("--current", required=True)
    check.add_argument("--psi-threshold", type=float, default=0.25)
    drift.add_parser("report", parents=[common]).add_argument("--model-type", required=True)
    for p in drift.choices.values():
        p.set_defaults(run=cmd_drift)
    ab = sub.add_parser("ab", parents=[common]).add_subparsers(dest="ab_command", required=True)
    create = ab.add_parser("create", parents=[common])
    create.add_argument("--champion", required=True)
    create.add_argument("--challenger", required=True)
    create.add_argument("--traffic-split", type=float, default=0.1)
    evaluate = ab.add_parser("evaluate", parents=[common])
    evaluate.add_argument("test_id")
    evaluate.add_argument("--method", choices=["sequential", "z_test"], default="sequential")
    ab.add_parser("list", parents=[common])
    for p in ab.choices.values():
        p.set_defaults(run=cmd_ab)
    promote = sub.add_parser("promote", parents=[common])
    promote.add_argument("model_id")
    promote.add_argument("--reason", required=True)
    promote.set_defaults(run=cmd_promote)
    rollback = sub.add_parser("rollback", parents=[common])
    rollback.add_argument("--model-type", required=True)
    rollback.add_argument("--reason", required=True)
    rollback.set_defaults(run=cmd_rollback)
    sub.add_parser("report", parents=[common]).set_defaults(run=cmd_report)
    serve = sub.add_parser("serve", parents=[common])
    serve.add_argument("--config", required=True)
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and int(ExitCode.USAGE)
    try:
        return int(args.run(args, out))
    except CliError as exc:
        code, message = exc.code, str(exc)
    except (NoPreviousChampionError, LookupError) as exc:
        code, message = ExitCode.NOT_FOUND, str(exc)
    except (InvalidTransitionError, ValueError, RegistryError) as exc:
        code, message = ExitCode.INVALID, str(exc)
    except OSError as exc:
        code, message = ExitCode.NOT_FOUND, str(exc)
    if args.json:
        out.write(json.dumps({"error": message, "exit_code": int(code)}) + "\n")
    else:
        err.write(f"learner: {message}\n")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
