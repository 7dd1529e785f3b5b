"""SQLAlchemy Core descriptions of the tables the migrations create (queries only).

The migrations are the source of truth for the schema; these mirror the columns so
repositories can build statements with types instead of string SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    FetchedValue,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, UUID

metadata = MetaData()


def _uuid(name: str, **kwargs: object) -> Column[object]:
    return Column(name, UUID(as_uuid=True), **kwargs)  # type: ignore[arg-type]


def _ts(name: str) -> Column[object]:
    return Column(name, DateTime(timezone=True))


organizations = Table(
    "organizations",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    Column("name", Text),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

org_policies = Table(
    "org_policies",
    metadata,
    _uuid("org_id", primary_key=True),
    Column("retention_days", Integer),
    Column("max_webhook_attempts", Integer),
    Column("webhook_replay_window_seconds", Integer),
    Column("api_rate_limit_per_min", Integer),
    Column("due_soon_days", Integer),
    Column("due_soon_hours", Numeric(10, 1)),
    Column("due_soon_cycles", Integer),
    Column("default_daily_hours", Numeric(10, 2)),
    Column("default_daily_cycles", Numeric(10, 2)),
    Column("time_zone", Text),
    Column("max_webhooks", Integer),
    _ts("created_at"),
    _ts("updated_at"),
)

users = Table(
    "users",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("email", Text),
    Column("name", Text),
    Column("role", Text),
    Column("password_hash", Text),
    Column("certificate_number", Text),
    Column("authorizations", ARRAY(Text)),
    _ts("last_login"),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("user_id"),
    _uuid("family_id"),
    Column("token_hash", LargeBinary),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("used_at"),
    _ts("revoked_at"),
)

audit_logs = Table(
    "audit_logs",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("seq", BigInteger),
    Column("entity_type", Text),
    _uuid("entity_id"),
    Column("action", Text),
    _uuid("user_id"),
    Column("actor", Text),
    Column("request_id", Text),
    Column("ip_address", INET),
    Column("user_agent", Text),
    Column("entity_version", Integer),
    _ts("timestamp"),
    Column("details", JSONB),
    Column("prev_hash", Text),
    Column("hash", Text),
)

outbox_events = Table(
    "outbox_events",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("event_type", Text),
    Column("aggregate_type", Text),
    _uuid("aggregate_id"),
    Column("payload", JSONB),
    Column("dedupe_key", Text),
    _ts("created_at"),
    _ts("dispatched_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _uuid("org_id", primary_key=True),
    _uuid("user_id", primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text),
    Column("state", Text),
    Column("response_status", Integer),
    Column("response_headers", JSONB),
    Column("response_body", LargeBinary),
    _ts("created_at"),
    _ts("locked_until"),
    _ts("expires_at"),
)

aircraft = Table(
    "aircraft",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("tail_number", Text),
    Column("model", Text),
    Column("serial_number", Text),
    Column("status", Text),
    Column("capacity_slots", Integer),
    Column("flight_hours_total", Numeric(10, 1)),
    Column("cycles_total", Integer),
    Column("avg_daily_hours", Numeric(6, 2)),
    Column("avg_daily_cycles", Numeric(8, 2)),
    Column("observed_daily_hours", Numeric(12, 3)),
    Column("observed_daily_cycles", Numeric(12, 3)),
    _ts("last_maintenance"),
    _ts("next_due"),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

utilization_entries = Table(
    "utilization_entries",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("aircraft_id"),
    Column("flight_date", Date),
    Column("flight_hours", Numeric(10, 1)),
    Column("cycles", Integer),
    Column("source", Text),
    Column("external_id", Text),
    _uuid("corrects_id"),
    _uuid("created_by"),
    _ts("created_at"),
)

maintenance_programs = Table(
    "maintenance_programs",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("aircraft_id"),
    Column("aircraft_model", Text),
    Column("name", Text),
    Column("description", Text),
    Column("ata_chapter", Text),
    Column("task_type", Text),
    Column("interval_hours", Numeric(10, 1)),
    Column("interval_cycles", Integer),
    Column("interval_days", Integer),
    Column("interval_months", Integer),
    Column("tolerance_hours", Numeric(10, 1)),
    Column("tolerance_cycles", Integer),
    Column("tolerance_days", Integer),
    Column("next_due_basis", Text),
    Column("estimated_duration_hours", Numeric(6, 2)),
    Column("mandatory", Boolean),
    Column("required_authorization", Text),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

maintenance_tasks = Table(
    "maintenance_tasks",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("aircraft_id"),
    _uuid("program_id"),
    Column("type", Text),
    Column("state", Text),
    Column("title", Text),
    _ts("start_time"),
    _ts("end_time"),
    _ts("basis_at"),
    Column("basis_hours", Numeric(10, 1)),
    Column("basis_cycles", Integer),
    Column("basis_source", Text),
    _ts("due_at"),
    Column("due_hours", Numeric(10, 1)),
    Column("due_cycles", Integer),
    Column("tolerance_hours", Numeric(10, 1)),
    Column("tolerance_cycles", Integer),
    Column("tolerance_days", Integer),
    _ts("projected_due_at"),
    Column("governing_limit", Text),
    Column("due_status", Text),
    _uuid("assigned_mechanic_id"),
    Column("notes", Text),
    Column("cancel_reason", Text),
    _ts("started_at"),
    _ts("completed_at"),
    _uuid("completed_by"),
    Column("completed_hours", Numeric(10, 1)),
    Column("completed_cycles", Integer),
    Column("mandatory", Boolean),
    Column("early", Boolean),
    Column("record_entry", Boolean),
    _uuid("certified_by_user_id"),
    Column("certified_by_name", Text),
    Column("certificate_number", Text),
    Column("record_reference", Text),
    Column("version", Integer),
    _uuid("created_by"),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

part_definitions = Table(
    "part_definitions",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("name", Text),
    Column("part_number", Text),
    Column("category", Text),
    Column("min_stock", Integer),
    Column("low_stock_alerted", Boolean),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

part_items = Table(
    "part_items",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("part_definition_id"),
    Column("serial_number", Text),
    Column("status", Text),
    Column("expiry_date", Date),
    Column("location", Text),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

part_reservations = Table(
    "part_reservations",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("task_id"),
    _uuid("part_item_id"),
    Column("state", Text),
    Column("quantity", Integer),
    _uuid("created_by"),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
)

program_satisfies = Table(
    "program_satisfies",
    metadata,
    _uuid("org_id"),
    _uuid("program_id", primary_key=True),
    _uuid("satisfied_program_id", primary_key=True),
)

program_parts = Table(
    "program_parts",
    metadata,
    _uuid("org_id"),
    _uuid("program_id", primary_key=True),
    _uuid("part_definition_id", primary_key=True),
    Column("quantity", Integer),
)

compliance_items = Table(
    "compliance_items",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("task_id"),
    Column("description", Text),
    Column("result", Text),
    _uuid("sign_off_user_id"),
    _ts("sign_off_time"),
    _uuid("supersedes_id"),
    Column("certificate_number", Text),
    _uuid("created_by"),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("url", Text),
    Column("events", ARRAY(Text)),
    # Plaintext only on rows written before secrets were encrypted (sealed at start-up).
    Column("secret", Text),
    Column("secret_ciphertext", Text),
    Column("active", Boolean),
    _uuid("created_by"),
    Column("version", Integer),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("deleted_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("webhook_id"),
    _uuid("event_id"),
    Column("event_type", Text),
    Column("status", Text),
    Column("attempt_count", Integer),
    _ts("next_attempt_at"),
    Column("last_response_code", Integer),
    Column("last_response_body", Text),
    Column("last_error", Text),
    _ts("delivered_at"),
    Column("attempts", JSONB),
    _ts("claimed_until"),
    _ts("created_at"),
    _ts("updated_at"),
)

compliance_records = Table(
    "compliance_records",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    _uuid("program_id"),
    _uuid("aircraft_id"),
    _ts("performed_at"),
    Column("performed_hours", Numeric(10, 1)),
    Column("performed_cycles", Integer),
    _ts("basis_at"),
    Column("basis_hours", Numeric(10, 1)),
    Column("basis_cycles", Integer),
    Column("source", Text),
    _uuid("task_id"),
    Column("reference", Text),
    _uuid("certified_by_user_id"),
    Column("certified_by_name", Text),
    Column("certificate_number", Text),
    _uuid("created_by"),
    _ts("created_at"),
)

imports = Table(
    "imports",
    metadata,
    _uuid("id", primary_key=True, server_default=FetchedValue()),
    _uuid("org_id"),
    Column("type", Text),
    Column("status", Text),
    Column("dry_run", Boolean),
    Column("format", Text),
    Column("filename", Text),
    Column("content", LargeBinary),
    Column("size_bytes", Integer),
    Column("ignored_columns", ARRAY(Text)),
    Column("failure", Text),
    Column("total", Integer),
    Column("valid", Integer),
    Column("invalid", Integer),
    Column("applied", Integer),
    Column("unchanged", Integer),
    _uuid("created_by"),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("completed_at"),
)

import_rows = Table(
    "import_rows",
    metadata,
    _uuid("import_id", primary_key=True),
    _uuid("org_id"),
    Column("row_number", Integer, primary_key=True),
    Column("raw", JSONB),
    Column("data", JSONB),
    Column("status", Text),
    Column("errors", ARRAY(Text)),
    _uuid("entity_id"),
    Column("outcome", Text),
)
