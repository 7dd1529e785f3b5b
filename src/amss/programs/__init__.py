"""Maintenance programs (repeating requirements), due computation and task generation."""
