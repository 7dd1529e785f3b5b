"""Reports (SPEC §9): the fleet summary, compliance report, due lists, status record, timeline."""
