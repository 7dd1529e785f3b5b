"""Compliance items: the inspection steps of a task and who signed them off."""
