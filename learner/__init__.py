"""Loopwise learner."""
