"""Aircraft, their usage meters and utilization."""
