"""``learner``: the admin command line of a running learner (``learner serve``).

Every command but ``serve`` and ``drift check`` calls the learner's admin gRPC API (the learner
is the single writer of the registry and of the routing), with a bearer token:
``--addr`` / ``LOOPWISE_LEARNER_ADDR`` (default ``127.0.0.1:50061``) and ``--token-file`` /
``LOOPWISE_LEARNER_TOKEN_FILE``. Readable tables by default, ``--json`` for scripts, and exit
codes scripts can branch on (:class:`ExitCode`).

    learner serve --config learner.toml
    learner status
    learner models list [--model-type T] [--status S] | show ID | history --model-type T
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
import enum
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import grpc
import numpy as np
from google.protobuf.message import Message

from learner.drift import DriftDetector
from learner.event_text import describe
from learner.serve.messages import event_kind
from loopwise_proto.v1 import learner_pb2 as pb
from loopwise_proto.v1 import learner_pb2_grpc
from sidecar.tls import TlsFiles, open_channel

__all__ = ["ExitCode", "main", "build_parser", "DEFAULT_ADDR"]

DEFAULT_ADDR = "127.0.0.1:50061"


class ExitCode(enum.IntEnum):
    OK = 0
    #: drift found (``drift check``), so ``learner drift check ... || retrain`` works.
    DRIFT_DETECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    INVALID = 4
    UNAVAILABLE = 5
    UNAUTHENTICATED = 6
    #: the change is recorded but a live sidecar missed or refused its routing push (named on
    #: stderr); the learner keeps re-pushing until every sidecar holds it.
    PUSH_INCOMPLETE = 7


#: gRPC status -> exit code (anything else: UNAVAILABLE).
_EXIT = {
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.INVALID,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.INVALID,
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.UNAUTHENTICATED,
}


class CliError(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


class PushIncompleteError(CliError):
    """The change is made and its result printed, but its routing push did not reach every
    live sidecar: the message goes to stderr even with ``--json``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.PUSH_INCOMPLETE)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns, one header row and a rule."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _value(value: Any) -> Any:
    return as_dict(value) if isinstance(value, Message) else value


def as_dict(message: Message) -> dict[str, Any]:
    """A message as a JSON-ready dict: proto field names, numbers as numbers, unset optional
    fields as None, enums by name, and ``*_json`` string fields parsed (key without ``_json``)."""
    out: dict[str, Any] = {}
    for f in message.DESCRIPTOR.fields:
        value = getattr(message, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            data: Any = {k: _value(v) for k, v in value.items()}
        elif f.is_repeated:
            data = [_value(v) for v in value]
        elif f.has_presence and not message.HasField(f.name):
            data = None
        elif f.enum_type is not None:
            data = f.enum_type.values_by_number[value].name
        else:
            data = _value(value)
        if f.name.endswith("_json") and isinstance(data, str):
            out[f.name.removesuffix("_json")] = json.loads(data) if data else None
        else:
            out[f.name] = data
    return out


class Admin:
    """The admin API with the caller's credentials; every call maps failures to exit codes."""

    def __init__(self, addr: str, token: str | None, timeout_s: float,
                 tls: TlsFiles | None = None) -> None:
        self._channel = open_channel(addr, tls)
        self._stub = learner_pb2_grpc.LearnerAdminStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self._timeout_s, self._addr = timeout_s, addr

    def __call__(self, method: str, request: Message) -> Any:
        try:
            return getattr(self._stub, method)(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            code = exc.code()
            detail = exc.details() or code.name
            if code is grpc.StatusCode.UNAVAILABLE:
                detail = f"learner at {self._addr} unavailable: {detail}"
            raise CliError(detail, _EXIT.get(code, ExitCode.UNAVAILABLE)) from None

    def close(self) -> None:
        self._channel.close()


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
    human = (f"uptime: {s.uptime_s / 3600:.1f} h  routing generation: {s.routing_generation}  "
             f"sidecars: {len(s.sidecars)} ({len(s.stale_sidecars)} stale)\n"
             + table([(t, c, s.running_ab_tests.get(t, "")) for t, c in sorted(s.champions.items())],
                     ["model type", "champion", "A/B test"]) + "\n\n"
             + table(sorted(s.counters.items()), ["counter", "value"]))
    _emit(args, as_dict(s), human, out)
    return ExitCode.OK


def cmd_models(args: argparse.Namespace, admin: Admin, out: TextIO) -> ExitCode:
    data: Any
    if args.models_command == "list":
        resp = admin("ListModels", pb.ListModelsRequest(model_type=args.model_type or "",
                                                        status=args.status or ""))
        data = [as_dict(m) for m in resp.models]
        human = table([(m["id"], m["model_type"], m["version"], m["status"],
                        json.dumps(m["metrics"])[:60]) for m in data],
                      ["id", "type", "version", "status", "metrics"])
    elif args.models_command == "show":
        data = as_dict(admin("GetModel", pb.GetModelRequest(model_id=args.model_id)))
        human = "\n".join(f"{k:>16}: {v}" for k, v in data.items())
    else:
        resp = admin("GetHistory", pb.GetHistoryRequest(model_type=args.model_type))
        data = [as_dict(e) for e in resp.entries]
        human = table([(d["seq"], f"{d['at']:.0f}", d["model_id"], d["action"], d["actor"], d["reason"])
                       for d in data], ["seq", "at", "model", "action", "actor", "reason"])
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
    stamp = time.strftime("%H:%M:%S", time.localtime(e.at))
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
    common.add_argument("--timeout", type=float, default=default(30.0), help="seconds per call")
    for flag, what in (("cert-file", "client certificate"), ("key-file", "client private key"),
                       ("ca-file", "CA bundle verifying the learner"),
                       ("server-name", "name in the learner's certificate")):
        env = "LOOPWISE_TLS_" + flag.replace("-", "_").upper()
        common.add_argument(f"--tls-{flag}", default=default(os.environ.get(env)),
                            help=f"mutual TLS: {what} (env {env})")
    return common


def build_parser() -> argparse.ArgumentParser:
    top, common = _common(True), _common(False)
    parser = argparse.ArgumentParser(prog="learner", description="Loopwise learner admin CLI",
                                     parents=[top])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Command, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=[common])
        p.set_defaults(run=run)
        return p

    command("status", cmd_status)
    models = sub.add_parser("models", parents=[common]).add_subparsers(dest="models_command", required=True)
    listing = command("list", cmd_models, models)
    listing.add_argument("--model-type")
    listing.add_argument("--status")
    command("show", cmd_models, models).add_argument("model_id")
    command("history", cmd_models, models).add_argument("--model-type", required=True)
    drift = sub.add_parser("drift", parents=[common]).add_subparsers(dest="drift_command", required=True)
    check = command("check", cmd_drift, drift)
    check.add_argument("--model-type", help="check the running learner's champion now")
    check.add_argument("--baseline", help="offline: .npy or .csv (rows x features)")
    check.add_argument("--current", help="offline: .npy or .csv")
    check.add_argument("--psi-threshold", type=float, default=0.25)
    command("report", cmd_drift, drift).add_argument("--model-type", required=True)
    ab = sub.add_parser("ab", parents=[common]).add_subparsers(dest="ab_command", required=True)
    create = command("create", cmd_ab, ab)
    create.add_argument("--champion", required=True)
    create.add_argument("--challenger", required=True)
    create.add_argument("--traffic-split", type=float, default=0.0, help="default: the configured one")
    evaluate = command("evaluate", cmd_ab, ab)
    evaluate.add_argument("test_id")
    evaluate.add_argument("--method", choices=["sequential", "z_test"])
    command("list", cmd_ab, ab)
    promote = command("promote", cmd_promote)
    promote.add_argument("model_id")
    promote.add_argument("--reason", required=True)
    rollback = command("rollback", cmd_rollback)
    rollback.add_argument("--model-type", required=True)
    rollback.add_argument("--reason", required=True)
    report = command("report", cmd_report)
    report.add_argument("--model-type")
    report.add_argument("--format", choices=["json", "html"], default="json")
    report.add_argument("--out", help="write to this file instead of stdout")
    report.add_argument("--days", type=float, default=7.0, help="length of the period")
    events = command("events", cmd_events)
    events.add_argument("--after", type=int, default=0, help="only events after this sequence number")
    events.add_argument("--follow", action="store_true", help="keep polling for new events")
    events.add_argument("--interval", type=float, default=1.0, help="seconds between polls (--follow)")
    serve = sub.add_parser("serve", parents=[common])
    serve.add_argument("--config", required=True)
    serve.set_defaults(run=None)
    return parser


def _dispatch(args: argparse.Namespace, out: TextIO) -> ExitCode:
    if args.command == "serve":
        return cmd_serve(args, out)
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
