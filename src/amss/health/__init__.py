"""Liveness, readiness, metrics and API documentation endpoints."""
