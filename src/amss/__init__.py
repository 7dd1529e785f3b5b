"""AMSS: Aircraft Maintenance Scheduling System."""

__version__ = "0.1.0"
