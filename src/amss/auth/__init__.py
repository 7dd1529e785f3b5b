"""Authentication (login, tokens, refresh) and authorization (roles, the access matrix)."""
