"""The audit trail: immutable, hash-chained per organization, verifiable."""
