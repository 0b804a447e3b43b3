"""The ``LearnerAdmin`` servicer: validate, run the operation on the learner's thread, map errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc

from learner.continuous_learner import ContinuousLearner
from learner.errors import InvalidInputError
from learner.serve import operations as ops
from learner.serve.runner import LearnerThread
from learner.serve.status_map import status_of
from loopwise_proto.v1 import learner_pb2 as pb
from loopwise_proto.v1 import learner_pb2_grpc

__all__ = ["LearnerAdminServicer"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def _required(**values: str) -> None:
    missing = [name for name, value in values.items() if not value.strip()]
    if missing:
        raise InvalidInputError(f"required: {', '.join(missing)}")


def _abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    code = status_of(exc)
    if code is None:
        log.exception("admin call failed", exc_info=exc)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
    context.abort(code, str(exc) or type(exc).__name__)
    raise AssertionError("context.abort returned")  # pragma: no cover


class LearnerAdminServicer(learner_pb2_grpc.LearnerAdminServicer):
    """Thin: every method is one operation of :mod:`learner.serve.operations`."""

    def __init__(self, learner: LearnerThread[ContinuousLearner], *, timeout_s: float = 60.0,
                 events: ops.EventFeed | None = None) -> None:
        self._learner, self._timeout_s, self._events = learner, timeout_s, events

    def _run(self, context: grpc.ServicerContext, check: Callable[[], None],
             op: Callable[[ContinuousLearner], T]) -> T:
        try:
            check()
            return self._learner.call(op, self._timeout_s)
        except Exception as exc:
            _abort(context, exc)

    def GetStatus(self, request: pb.GetLearnerStatusRequest, context: Any) -> pb.GetLearnerStatusResponse:
        return self._run(context, lambda: None, ops.status)

    def ListModels(self, request: pb.ListModelsRequest, context: Any) -> pb.ListModelsResponse:
        return self._run(context, lambda: None,
                         lambda lr: ops.list_models(lr, request.model_type, request.status))

    def GetModel(self, request: pb.GetModelRequest, context: Any) -> pb.RegisteredModel:
        return self._run(context, lambda: _required(model_id=request.model_id),
                         lambda lr: ops.get_model(lr, request.model_id))

    def GetHistory(self, request: pb.GetHistoryRequest, context: Any) -> pb.GetHistoryResponse:
        return self._run(context, lambda: _required(model_type=request.model_type),
                         lambda lr: ops.history(lr, request.model_type))

    def CheckDrift(self, request: pb.CheckDriftRequest, context: Any) -> pb.DriftResult:
        return self._run(context, lambda: _required(model_type=request.model_type),
                         lambda lr: ops.check_drift(lr, request.model_type))

    def GetDriftReport(self, request: pb.GetDriftReportRequest, context: Any) -> pb.DriftResult:
        return self._run(context, lambda: _required(model_type=request.model_type),
                         lambda lr: ops.drift_report(lr, request.model_type))

    def CreateABTest(self, request: pb.CreateABTestRequest, context: Any) -> pb.ABTest:
        def check() -> None:
            _required(champion_id=request.champion_id, challenger_id=request.challenger_id)
            if request.traffic_split and not 0 < request.traffic_split < 1:
                raise InvalidInputError(f"traffic_split must be in (0, 1) (got {request.traffic_split})")
        return self._run(context, check, lambda lr: ops.create_ab_test(
            lr, request.champion_id, request.challenger_id, request.traffic_split))

    def EvaluateABTest(self, request: pb.EvaluateABTestRequest, context: Any) -> pb.ABTestResult:
        return self._run(context, lambda: _required(test_id=request.test_id),
                         lambda lr: ops.evaluate_ab_test(lr, request.test_id, request.method))

    def ListABTests(self, request: pb.ListABTestsRequest, context: Any) -> pb.ListABTestsResponse:
        return self._run(context, lambda: None, ops.list_ab_tests)

    def Promote(self, request: pb.PromoteRequest, context: Any) -> pb.PromoteResponse:
        return self._run(context, lambda: _required(model_id=request.model_id, reason=request.reason),
                         lambda lr: ops.promote(lr, request.model_id, request.reason))

    def Rollback(self, request: pb.RollbackRequest, context: Any) -> pb.RollbackResponse:
        return self._run(context, lambda: _required(model_type=request.model_type, reason=request.reason),
                         lambda lr: ops.rollback(lr, request.model_type, request.reason))

    def GetReport(self, request: pb.GetReportRequest, context: Any) -> pb.GetReportResponse:
        def check() -> None:
            if request.period_days < 0:
                raise InvalidInputError("period_days must be >= 0")
        return self._run(context, check, lambda lr: ops.report(
            lr, request.model_type, request.format, request.period_days))

    def ListEvents(self, request: pb.ListEventsRequest, context: Any) -> pb.ListEventsResponse:
        log_ = self._events
        if log_ is not None:  # thread-safe: no need to wait for the learner's thread
            try:
                return ops.events(log_, request.after_seq, request.limit)
            except Exception as exc:
                _abort(context, exc)
        return self._run(context, lambda: None,
                         lambda lr: ops.events(lr.events, request.after_seq, request.limit))
