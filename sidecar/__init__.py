"""Loopwise sidecar."""
