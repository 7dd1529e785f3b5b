"""Maintenance tasks: the work that satisfies a requirement, or manual work."""
