"""Organizations (tenants) and their policies."""
