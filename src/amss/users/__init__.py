"""Users of an organization and their roles."""
