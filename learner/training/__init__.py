"""Retraining: sample collection, training sets, LoRA fine-tuning, jobs and the orchestrator.

Only this package imports torch, peft and transformers, and only in ``trainer`` and
``worker`` (which run in the training process): importing ``learner.training`` or the
orchestrator stays light.

>>> from learner.training import RetrainingOrchestrator, JobState
"""

from learner.training.config import DataConfig, Device, OrchestratorConfig, TrainingConfig
from learner.training.dataset import Example, LabelSource, TrainingSet, build_training_set
from learner.training.errors import (
    BaseModelNotFoundError,
    CorruptSampleError,
    InsufficientSamplesError,
    InvalidJobTransitionError,
    InvalidTrainingConfigError,
    JobNotFoundError,
    TrainingError,
)
from learner.training.evaluate import Comparison, EvalMetrics, classification_metrics
from learner.training.jobs import Job, JobConflictError, JobOutcome, JobState, JobStore
from learner.training.launch import LaunchKind, LaunchPlan, plan_launch
from learner.training.orchestrator import RetrainingOrchestrator
from learner.training.sample_source import RawSample, SampleSource, StatcoreStoreSource
from learner.training.sample_store import CollectReport, SampleCollector, SampleStore
from learner.training.spec import DEFAULT_MODEL, ModelSpec, TaskKind

__all__ = [
    "BaseModelNotFoundError", "CollectReport", "Comparison", "CorruptSampleError",
    "DEFAULT_MODEL", "DataConfig", "Device", "EvalMetrics", "Example", "InsufficientSamplesError",
    "InvalidJobTransitionError", "InvalidTrainingConfigError", "Job", "JobConflictError",
    "JobNotFoundError", "JobOutcome", "JobState", "JobStore", "LabelSource", "LaunchKind",
    "LaunchPlan", "ModelSpec", "OrchestratorConfig", "RawSample", "RetrainingOrchestrator",
    "SampleCollector", "SampleSource", "SampleStore", "StatcoreStoreSource", "TaskKind",
    "TrainingConfig", "TrainingError", "TrainingSet", "build_training_set",
    "classification_metrics", "plan_launch",
]
