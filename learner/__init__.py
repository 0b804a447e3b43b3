"""Loopwise learner."""

from learner.registry import ModelRegistry, ModelVersion

__all__ = ["ModelRegistry", "ModelVersion"]
