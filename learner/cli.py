"""``learner``: the admin command line of a running learner (``learner serve``).

Every command but ``serve`` and ``drift check`` calls the learner's admin gRPC API (the learner
is the single writer of the registry and of the routing), with a bearer token:
``--addr`` / ``LOOPWISE_LEARNER_ADDR`` (default ``127.0.0.1:50061``) and ``--token-file`` /
``LOOPWISE_LEARNER_TOKEN_FILE``. Readable tables by default, ``--json`` for scripts, and exit
codes scripts can branch on (:class:`ExitCode`).

    learner serve --config learner.toml
    learner status
    learner models list [--model-type T] [--status S] | show ID | history --model-type T
    learner models register ADAPTER_DIR --model-type T --metrics '{"accuracy": 0.9}' --config learner.toml
                                                          (offline: seeds the registry)
    learner drift check --baseline A.npy --current B.npy   (offline, on files)
    learner drift check --model-type T | report --model-type T
    learner ab create --champion A --challenger B [--traffic-split 0.1] | evaluate ID | list
    learner promote MODEL_ID --reason "..."
    learner rollback --model-type T --reason "..."
    learner report [--model-type T] [--format json|html] [--out FILE] [--days 7]
    learner events [--after SEQ] [--follow]               (the loop's events, live)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from learner.admin_client import Admin, CliError, ExitCode, PushIncompleteError, as_dict
from learner.drift import DriftDetector
from learner.event_text import describe
from learner.serve.messages import event_kind
from learner.tables import duration, metrics_cell, table, utc_iso
from loopwise_proto.v1 import learner_pb2 as pb
from sidecar.tls import TlsFiles

__all__ = ["ExitCode", "main", "build_parser", "DEFAULT_ADDR"]

DEFAULT_ADDR = "127.0.0.1:50061"


def _admin(args: argparse.Namespace) -> Admin:
    token = None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CliError(f"cannot read token file {args.token_file}: {exc.strerror}",
                           ExitCode.UNAUTHENTICATED) from None
    tls = None
    if args.tls_cert_file or args.tls_ca_file:
        tls = TlsFiles(_path(args.tls_cert_file), _path(args.tls_key_file), _path(args.tls_ca_file),
                       args.tls_server_name)
    return Admin(args.addr, token, args.timeout, tls)


def _path(value: str | None) -> Path | None:
    return None if not value else Path(value)


def _emit(args: argparse.Namespace, data: Any, human: str, out: TextIO) -> None:
    out.write((json.dumps(data, indent=2, default=str) if args.json else human) + "\n")


# ---- commands ------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Admin, TextIO], ExitCode]


def cmd_status(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    s = admin("GetStatus", pb.GetLearnerStatusRequest())
    human = (f"uptime: {duration(s.uptime_s)}  routing generation: {s.routing_generation}  "
             f"sidecars: {len(s.sidecars)} ({len(s.stale_sidecars)} stale)\n"
             + table([(t, c, s.running_ab_tests.get(t, "")) for t, c in sorted(s.champions.items())],
                     ["model type", "champion", "A/B test"]) + "\n\n"
             + table(sorted(s.counters.items()), ["counter (as on /metrics)", "value"])
             + "".join(f"\nWARNING: drift of {t} is not evaluated: {why}"
                       for t, why in sorted(s.drift_unavailable.items())))
    _emit(args, as_dict(s), human, out)
    return ExitCode.OK


def cmd_models(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    data: Any
    if args.models_command == "list":
        resp = admin("ListModels", pb.ListModelsRequest(model_type=args.model_type or "",
                                                        status=args.status or ""))
        data = [as_dict(m) for m in resp.models]
        human = table([(m["id"], m["model_type"], m["version"], m["status"],
                        metrics_cell(m["metrics"])) for m in data],
                      ["id", "type", "version", "status", "metrics"])
    elif args.models_command == "show":
        data = as_dict(admin("GetModel", pb.GetModelRequest(model_id=args.model_id)))
        human = "\n".join(f"{k:>16}: {v}" for k, v in data.items())
    else:
        resp = admin("GetHistory", pb.GetHistoryRequest(model_type=args.model_type))
        data = [as_dict(e) for e in resp.entries]
        human = table([(d["seq"], utc_iso(d["at"]), d["model_id"], d["action"], d["actor"], d["reason"])
                       for d in data], ["seq", "at (UTC)", "model", "action", "actor", "reason"])
    _emit(args, data, human, out)
    return ExitCode.OK


def _load(path: str) -> np.ndarray:
    p = Path(path)
    if p.suffix == ".npy":
        return np.asarray(np.load(p), dtype=np.float64)
    return np.loadtxt(p, delimiter=",", ndmin=2)


def drift_check_files(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """``drift check --baseline --current``: offline, on exported data."""
    try:
        baseline, current = _load(args.baseline), _load(args.current)
    except OSError as exc:
        raise CliError(str(exc), ExitCode.NOT_FOUND) from None
    report = DriftDetector(psi_threshold=args.psi_threshold).detect_data_drift(baseline, current)
    rows = [(f.name, f"{f.psi:.4f}", f"{f.ks_statistic:.4f}", f"{f.ks_adjusted_pvalue:.2e}",
             f"{f.wasserstein:.4f}", "DRIFT" if f.drifted else "")
            for f in report.features.values()]
    human = (f"{report.message}  PSI={report.psi_score:.4f}  severity={report.severity.value}\n"
             + table(rows, ["feature", "psi(10 bins)", "ks", "ks p (BH)", "w1", ""]))
    _emit(args, report.to_dict(), human, out)
    return ExitCode.DRIFT_DETECTED if report.drift_detected else ExitCode.OK


def cmd_drift(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    if args.drift_command == "check":
        result = admin("CheckDrift", pb.CheckDriftRequest(model_type=args.model_type))
    else:
        result = admin("GetDriftReport", pb.GetDriftReportRequest(model_type=args.model_type))
    data = as_dict(result)
    human = (f"{result.model_type}: {result.message}" + (
        f"  PSI={result.psi_score:.4f}  severity={result.severity}" if result.evaluated else ""))
    _emit(args, data, human, out)
    return ExitCode.DRIFT_DETECTED if result.drift_detected else ExitCode.OK


def _ab_row(t: pb.ABTest) -> tuple[Any, ...]:
    r = t.last_result
    verdict = r.recommendation if t.HasField("last_result") else ""
    return (t.test_id, t.model_type, t.champion_id, t.challenger_id, f"{t.traffic_split:.2f}",
            t.status, verdict)


_AB_HEADERS = ["test", "type", "champion", "challenger", "split", "status", "last verdict"]


def cmd_ab(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    if args.ab_command == "create":
        test = admin("CreateABTest", pb.CreateABTestRequest(
            champion_id=args.champion, challenger_id=args.challenger, traffic_split=args.traffic_split))
        _emit(args, as_dict(test), table([_ab_row(test)], _AB_HEADERS), out)
    elif args.ab_command == "list":
        tests = admin("ListABTests", pb.ListABTestsRequest()).tests
        _emit(args, [as_dict(t) for t in tests], table([_ab_row(t) for t in tests], _AB_HEADERS), out)
    else:
        r = admin("EvaluateABTest", pb.EvaluateABTestRequest(test_id=args.test_id, method=args.method or ""))
        ci = f"  diff {r.estimate:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if r.HasField("estimate") else ""
        human = (f"{r.test_id} ({r.method}): {r.recommendation} - {r.message}{ci}\n" + table(
            [(a.model_id, a.records, a.labelled, f"{a.accuracy:.4f}" if a.HasField("accuracy") else "")
             for a in (r.champion, r.challenger)], ["arm", "records", "labelled", "accuracy"]))
        _emit(args, as_dict(r), human, out)
    return ExitCode.OK


def _push_outcome(r: Any) -> ExitCode:
    """PUSH_INCOMPLETE, naming the sidecars, when a live sidecar missed or refused the push."""
    if not r.missed and not r.refused:
        return ExitCode.OK
    parts = [f"missed by {', '.join(r.missed)}" if r.missed else "",
             f"refused by {', '.join(r.refused)}" if r.refused else ""]
    raise PushIncompleteError(f"routing generation {r.generation} was "
                              f"{' and '.join(p for p in parts if p)}; the learner keeps re-pushing")


def cmd_promote(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    r = admin("Promote", pb.PromoteRequest(model_id=args.model_id, reason=args.reason))
    _emit(args, as_dict(r), f"promoted {r.promoted} (replaced {r.previous_champion or 'nothing'}); "
                            f"routing generation {r.generation}: {len(r.applied)} sidecars updated, "
                            f"{len(r.missed)} missed, {len(r.refused)} refused", out)
    return _push_outcome(r)


def cmd_rollback(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    r = admin("Rollback", pb.RollbackRequest(model_type=args.model_type, reason=args.reason))
    _emit(args, as_dict(r), f"rolled back {r.model_type}: {r.previous_champion} -> "
                            f"{r.restored_champion} (generation {r.generation}, "
                            f"{len(r.applied)} sidecars updated, {len(r.missed)} missed, "
                            f"{len(r.refused)} refused)", out)
    return _push_outcome(r)


def cmd_report(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    fmt = pb.REPORT_FORMAT_HTML if args.format == "html" else pb.REPORT_FORMAT_JSON
    r = admin("GetReport", pb.GetReportRequest(model_type=args.model_type or "", format=fmt,
                                               period_days=args.days))
    if args.out:
        Path(args.out).write_bytes(r.content)
        _emit(args, {"written": args.out, "content_type": r.content_type, "bytes": len(r.content)},
              f"wrote {args.out} ({len(r.content)} bytes, {r.content_type})", out)
    else:
        out.write(r.content.decode() + "\n")
    return ExitCode.OK


def event_line(e: pb.LoopEvent) -> str:
    """``time  model_type  one-line description`` of a loop event."""
    kind = event_kind(e.kind)
    stamp = utc_iso(e.at)
    return f"{stamp}  #{e.seq:<4} {e.model_type}  {describe(kind, e.message, json.loads(e.details_json or '{}'))}"


def cmd_events(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    """The loop's events after ``--after``; with ``--follow``, keeps polling until interrupted."""
    after = args.after
    while True:
        r = admin("ListEvents", pb.ListEventsRequest(after_seq=after))
        for e in r.events:
            out.write((json.dumps(as_dict(e)) if args.json else event_line(e)) + "\n")
        out.flush()
        after = max(after, r.last_seq)
        if not args.follow:
            return ExitCode.OK
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return ExitCode.OK


def _metrics_arg(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--metrics is not JSON: {exc}", ExitCode.USAGE) from None
    if not isinstance(metrics, dict):
        raise CliError("--metrics must be a JSON object", ExitCode.USAGE)
    return metrics


def cmd_register(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """``models register``: offline, on the registry directory (``--registry``, or the
    ``[registry]`` section of ``--config``); the new version is ``registered``, and the running
    learner promotes it (``learner promote ID``)."""
    from learner.registry import ModelRegistry
    from learner.registry.errors import RegistryError

    metrics = _metrics_arg(args.metrics)
    root, artifact_url = Path(args.registry) if args.registry else None, None
    if root is None:
        from learner.serve.config import ServeConfig

        registry = ServeConfig.load(args.config).registry
        root, artifact_url = registry.root, registry.artifact_url
    if not Path(args.artifact).exists():
        raise CliError(f"no such file or directory: {args.artifact}", ExitCode.NOT_FOUND)
    try:
        with ModelRegistry(root, artifact_url=artifact_url) as reg:
            model_id = reg.register_model(Path(args.artifact), args.name or args.model_type, args.model_type,
                                          metrics, version=args.model_version, base_model=args.base_model,
                                          reason=args.reason)
            record = reg.get_model(model_id)
    except RegistryError as exc:
        code = ExitCode.NOT_FOUND if isinstance(exc, LookupError) else ExitCode.INVALID
        raise CliError(str(exc), code) from None
    _emit(args, {"id": model_id, "model_type": record.model_type, "version": str(record.version),
                 "status": record.status.value, "artifact_sha256": record.artifact_sha256},
          f"registered {model_id} ({record.status.value}); make it the champion with: "
          f"learner promote {model_id} --reason \"...\"", out)
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace, out: TextIO) -> ExitCode:
    import logging

    from learner.serve.config import ServeConfig
    from learner.serve.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(ServeConfig.load(args.config))
    return ExitCode.OK


# ---- parser ---------------------------------------------------------------------------------


def _common(defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes. Subcommands get them with suppressed defaults, so an
    option given before the subcommand (``learner --json status``) is not reset by it."""
    common = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common.add_argument("--json", action="store_true", default=default(False), help="machine-readable output")
    common.add_argument("--addr", default=default(os.environ.get("LOOPWISE_LEARNER_ADDR", DEFAULT_ADDR)),
                        help="learner admin address (env LOOPWISE_LEARNER_ADDR)")
    common.add_argument("--token-file", default=default(os.environ.get("LOOPWISE_LEARNER_TOKEN_FILE")),
                        help="file holding the admin token (env LOOPWISE_LEARNER_TOKEN_FILE)")
    common.add_argument("--timeout", type=positive_float, default=default(30.0),
                        help="seconds per admin call (default 30)")
    for flag, what in (("cert-file", "client certificate"), ("key-file", "client private key"),
                       ("ca-file", "CA bundle verifying the learner"),
                       ("server-name", "name in the learner's certificate")):
        env = "LOOPWISE_TLS_" + flag.replace("-", "_").upper()
        common.add_argument(f"--tls-{flag}", default=default(os.environ.get(env)),
                            help=f"mutual TLS: {what} (env {env})")
    return common


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (``--days 0`` and ``--timeout 0`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number greater than 0 (got {text})")
    return value


def _exit_codes() -> str:
    lines = {ExitCode.OK: "success", ExitCode.DRIFT_DETECTED: "drift found (drift check)",
             ExitCode.USAGE: "usage error (bad option or value)",
             ExitCode.NOT_FOUND: "unknown model, model type, test or file",
             ExitCode.INVALID: "invalid request or transition",
             ExitCode.UNAVAILABLE: "learner unreachable, or the call timed out",
             ExitCode.UNAUTHENTICATED: "missing or wrong token",
             ExitCode.PUSH_INCOMPLETE: "recorded, but a sidecar missed the routing push"}
    return "exit codes:\n" + "\n".join(f"  {int(c)}  {text}" for c, text in lines.items())


def _json_schema() -> str:
    return ("--json: one JSON document per command (events: one object per line), with the admin "
            "API's field names;\ntimes are Unix seconds, enums short lower-case names "
            '("kind": "drift"), *_json fields parsed; errors: {"error": ..., "exit_code": N}.')


def build_parser() -> argparse.ArgumentParser:
    from sidecar import __version__

    top, common = _common(True), _common(False)
    parser = argparse.ArgumentParser(
        prog="learner", description="Loopwise learner: run it (serve), seed its registry "
        "(models register) and administer it over its admin API (every other command).",
        epilog=_exit_codes() + "\n\n" + _json_schema(), parents=[top],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def group(name: str, text: str, dest: str) -> Any:
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        return p.add_subparsers(dest=dest, required=True, metavar="COMMAND")

    def command(name: str, run: Command | None, text: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=[common], help=text, description=text,
                                                       epilog=_exit_codes(),
                                                       formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=run)
        return p

    command("status", cmd_status, "uptime, champions, A/B tests, sidecars and loop counters")
    models = group("models", "the model registry: list, show, history, register", "models_command")
    listing = command("list", cmd_models, "registered models (metrics shortened; show has them all)", models)
    listing.add_argument("--model-type", help="only this model type")
    listing.add_argument("--status", help="only this status (registered, challenger, champion, archived, ...)")
    command("show", cmd_models, "one model with every field", models).add_argument(
        "model_id", help="model id, e.g. clf_1.0.2")
    command("history", cmd_models, "every ledger row of a model type, oldest first", models).add_argument(
        "--model-type", required=True, help="the model type")
    register = command("register", None, "register a model version from safetensors files "
                       "(offline: writes the registry directly; promote it with the running learner)",
                       models)
    register.add_argument("artifact", help="a .safetensors file or a directory of them (an adapter "
                          "or a model directory; shards are merged)")
    register.add_argument("--model-type", required=True, help="the model type it serves")
    register.add_argument("--name", help="model name (default: the model type)")
    register.add_argument("--version", dest="model_version",
                          help="MAJOR.MINOR.PATCH (default: 1.0.0, or the latest bumped)")
    register.add_argument("--metrics", help='evaluation metrics as a JSON object, e.g. \'{"accuracy": 0.91}\'')
    register.add_argument("--base-model", help="lineage: the base model it adapts")
    register.add_argument("--reason", default="registered", help="why, for the ledger")
    where = register.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the learner's TOML configuration (its [registry] section)")
    where.add_argument("--registry", help="the registry directory itself")
    drift = group("drift", "drift of the champion's inputs against its reference data", "drift_command")
    check = command("check", cmd_drift, "check now: the learner's champion (--model-type) or two "
                    "files offline (--baseline, --current); exit 1 on drift", drift)
    check.add_argument("--model-type", help="check the running learner's champion now")
    check.add_argument("--baseline", help="offline: .npy or .csv (rows x features)")
    check.add_argument("--current", help="offline: .npy or .csv")
    check.add_argument("--psi-threshold", type=positive_float, default=0.25,
                       help="offline: PSI above which a feature drifts (default 0.25)")
    command("report", cmd_drift, "the learner's last drift check", drift).add_argument(
        "--model-type", required=True, help="the model type")
    ab = group("ab", "A/B tests: create, evaluate, list", "ab_command")
    create = command("create", cmd_ab, "start an A/B test of a challenger against the champion", ab)
    create.add_argument("--champion", required=True, help="the champion's model id")
    create.add_argument("--challenger", required=True, help="the challenger's model id")
    create.add_argument("--traffic-split", type=float, default=0.0,
                        help="share of traffic to the challenger, in (0, 1) (default: the configured one)")
    evaluate = command("evaluate", cmd_ab, "evaluate a test now and print its verdict", ab)
    evaluate.add_argument("test_id", help="the test id (ab list)")
    evaluate.add_argument("--method", choices=["sequential", "z_test"], help="default: the configured one")
    command("list", cmd_ab, "every A/B test with its last verdict", ab)
    promote = command("promote", cmd_promote, "make a model its type's champion (pushes routing)")
    promote.add_argument("model_id", help="the model id")
    promote.add_argument("--reason", required=True, help="why, for the ledger")
    rollback = command("rollback", cmd_rollback, "restore a model type's previous champion")
    rollback.add_argument("--model-type", required=True, help="the model type")
    rollback.add_argument("--reason", required=True, help="why, for the ledger")
    report = command("report", cmd_report, "the period report (JSON, or a self-contained HTML page)")
    report.add_argument("--model-type", help="the model type (default: the first managed one)")
    report.add_argument("--format", choices=["json", "html"], default="json", help="default: json")
    report.add_argument("--out", help="write to this file instead of stdout")
    report.add_argument("--days", type=positive_float, default=7.0, help="length of the period in days (default 7)")
    events = command("events", cmd_events, "the loop's events (drift, retraining, tests, promotions, ...)")
    events.add_argument("--after", type=int, default=0, help="only events after this sequence number")
    events.add_argument("--follow", action="store_true", help="keep polling for new events")
    events.add_argument("--interval", type=positive_float, default=1.0, help="seconds between polls (--follow)")
    serve = command("serve", None, "run the learner: the loop, its admin API and /metrics")
    serve.add_argument("--config", required=True, help="the learner's TOML configuration")
    return parser


def _dispatch(args: argparse.Namespace, out: TextIO) -> ExitCode:
    if args.command == "serve":
        return cmd_serve(args, out)
    if args.command == "models" and args.models_command == "register":
        return cmd_register(args, out)
    if args.command == "drift" and args.drift_command == "check":
        offline = args.baseline is not None or args.current is not None
        if offline:
            if args.baseline is None or args.current is None or args.model_type:
                raise CliError("give --baseline and --current (offline) or --model-type", ExitCode.USAGE)
            return drift_check_files(args, out)
        if not args.model_type:
            raise CliError("give --model-type, or --baseline and --current", ExitCode.USAGE)
    admin = _admin(args)
    try:
        code: ExitCode = args.run(args, admin, out)
        return code
    finally:
        admin.close()


def _quiet_stdout(out: TextIO) -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    if out is sys.stdout:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        with contextlib.redirect_stderr(err):  # usage errors go where the caller's errors go
            args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and int(ExitCode.USAGE)
    try:
        return int(_dispatch(args, out))
    except BrokenPipeError:  # the reader went away (``learner events | head -1``): not an error
        _quiet_stdout(out)
        return int(ExitCode.OK)
    except PushIncompleteError as exc:
        err.write(f"learner: {exc}\n")
        return int(exc.code)
    except CliError as exc:
        code, message = exc.code, str(exc)
    except ValueError as exc:  # an invalid configuration file (serve)
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
