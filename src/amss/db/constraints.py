"""What a violated database constraint means to a client (races the services cannot see)."""

from __future__ import annotations

# Unique indexes whose violation is a 409 with this message. Services check first and say
# it better; these catch two concurrent requests that both passed the check.
UNIQUE_MESSAGES: dict[str, str] = {
    "organizations_name_live_uq": "an organization with this name already exists",
    "users_email_live_uq": "a user with this email already exists in this organization",
    "aircraft_tail_live_uq": "an aircraft with this tail number already exists",
    "utilization_external_uq": "a utilization entry with this external_id already exists",
    "tasks_one_open_per_program_uq": "this program already has an open task for this aircraft",
}
