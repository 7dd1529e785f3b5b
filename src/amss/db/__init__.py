"""Database access: engine, unit of work, embedded server adapter and migrations."""
