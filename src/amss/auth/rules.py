"""Who may do what (SPEC §3): roles, the caller, and the access matrix. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal
from uuid import UUID

from amss.kit.errors import Forbidden

Role = Literal["admin", "tenant_admin", "scheduler", "mechanic", "auditor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "tenant_admin", "scheduler", "mechanic", "auditor", "viewer")

EVERYONE: frozenset[Role] = frozenset(ROLES)
ADMINS: frozenset[Role] = frozenset({"admin", "tenant_admin"})
PLANNERS: frozenset[Role] = frozenset({"admin", "tenant_admin", "scheduler"})
WORKERS: frozenset[Role] = frozenset({"admin", "tenant_admin", "scheduler", "mechanic"})

# One entry per use case family; each service calls ``authorize`` once per use case.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "organizations.create": frozenset({"admin"}),
    "organizations.read": EVERYONE,
    "organizations.update": ADMINS,
    "policy.read": frozenset({"admin", "tenant_admin", "scheduler", "auditor"}),
    "policy.update": ADMINS,
    "users.read": frozenset({"admin", "tenant_admin", "scheduler", "mechanic", "auditor"}),
    "users.write": ADMINS,
    "audit.read": frozenset({"admin", "tenant_admin", "scheduler", "mechanic", "auditor"}),
    "audit.export": frozenset({"admin", "tenant_admin", "auditor"}),
    "audit.verify": frozenset({"admin", "tenant_admin", "auditor"}),
    "audit.log": ADMINS,
    "aircraft.read": EVERYONE,
    "aircraft.write": PLANNERS,
    "utilization.record": frozenset({"admin", "tenant_admin", "scheduler", "mechanic"}),
    "programs.read": EVERYONE,
    "programs.write": PLANNERS,
    "tasks.read": EVERYONE,
    "tasks.write": PLANNERS,
    "tasks.transition": frozenset({"admin", "tenant_admin", "scheduler", "mechanic"}),
    "tasks.cancel": PLANNERS,
    "parts.read": EVERYONE,
    "parts.write": WORKERS,
    "reservations.write": WORKERS,
    "compliance.read": EVERYONE,
    "compliance.write": WORKERS,
    "compliance.sign": frozenset({"admin", "mechanic"}),
    "records.read": EVERYONE,
    "records.write": PLANNERS,
    "imports.read": frozenset({"admin", "tenant_admin", "scheduler", "auditor"}),
    "imports.write": PLANNERS,
    "webhooks.read": ADMINS,
    "webhooks.write": ADMINS,
    # Reports: everyone reads the summary and the due list; the compliance report, the
    # status record and the timeline are for everyone but mechanics (SPEC §3).
    "reports.summary": EVERYONE,
    "reports.due_list": EVERYONE,
    "reports.read": frozenset({"admin", "tenant_admin", "scheduler", "auditor", "viewer"}),
}


@dataclass(frozen=True)
class Caller:
    """Who is acting, in which organization, and from where (for the audit row).

    ``org_id`` is the organization acted in: the home organization, except for an admin
    who passed another ``org_id``. ``user_id`` is None for the system (jobs, CLI seed).
    """

    user_id: UUID | None
    org_id: UUID
    home_org_id: UUID
    role: Role
    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    actor: Literal["user", "system"] = "user"

    def acting_in(self, org_id: UUID | None) -> Caller:
        """Honour an ``org_id`` override for admins; everyone else stays in their own."""
        if org_id is None or self.role != "admin":
            return self
        return replace(self, org_id=org_id)

    @classmethod
    def system(cls, org_id: UUID, *, request_id: str | None = None) -> Caller:
        return cls(
            user_id=None,
            org_id=org_id,
            home_org_id=org_id,
            role="admin",
            request_id=request_id,
            actor="system",
        )


def is_allowed(role: Role, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def authorize(caller: Caller, permission: str) -> None:
    if not is_allowed(caller.role, permission):
        area, _, verb = permission.partition(".")
        raise Forbidden(f"role {caller.role} may not {verb} {area.replace('_', ' ')}")


def check_user_management(
    caller: Caller, *, target_role: Role, new_role: Role | None = None
) -> None:
    """A tenant_admin manages the users of its organization, but never admin users."""
    if caller.role == "admin":
        return
    if target_role == "admin" or new_role == "admin":
        raise Forbidden("a tenant_admin cannot create, modify or delete admin users")


def may_work_on(caller: Caller, assigned_mechanic_id: UUID | None) -> bool:
    """Mechanics work on tasks assigned to them or to nobody; planners on any."""
    return caller.role != "mechanic" or assigned_mechanic_id in (None, caller.user_id)


def certificate_for(
    caller: Caller,
    certificate_number: str | None,
    act: str,
    *,
    authorizations: Sequence[str] = (),
    required: str | None = None,
    otherwise: str | None = None,
) -> str:
    """The certificate a certifying act (completing a task, signing an item: SPEC §3, §6.5,
    §6.8) is made under; 403 saying why when the caller may not make it.

    Only a user of the organization the work belongs to signs its records (14 CFR 43.9,
    EASA 145.A.50): an admin acting in another organization cannot. The user needs a
    certificate number on record and, when the requirement asks, the authorization.
    ``otherwise`` names the other way to get the work recorded, added to the refusal.
    """
    tail = f"; {otherwise}" if otherwise else ""
    if caller.org_id != caller.home_org_id:
        raise Forbidden(
            f"to {act} is a certifying act of a user of this organization; an admin acting in "
            f"another organization cannot{tail}"
        )
    if not certificate_number:
        raise Forbidden(f"to {act} is a certifying act: your user has no certificate number{tail}")
    if required is not None and required not in authorizations:
        raise Forbidden(
            f"to {act} needs the {required} authorization, which your user does not hold{tail}"
        )
    return certificate_number
