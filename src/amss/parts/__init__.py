"""Parts: definitions, serialized items, and their reservations for tasks."""
