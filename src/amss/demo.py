"""Demo data for ``amss seed`` and ``amss serve --demo``: idempotent, safe to run again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import select, text

from amss.audit import journal
from amss.auth.passwords import hash_password
from amss.auth.rules import Caller, Role
from amss.compliance import service as compliance_service
from amss.compliance.schemas import ComplianceCreate, SignOff
from amss.db.engine import Database
from amss.db.tables import aircraft, maintenance_programs, maintenance_tasks, organizations, users
from amss.db.uow import UnitOfWork
from amss.due import engine, records
from amss.fleet.repository import AircraftRepository, UtilizationRepository
from amss.kit.timefmt import utcnow
from amss.orgs.repository import OrganizationRepository
from amss.parts.repository import DefinitionRepository, ItemRepository
from amss.parts.service import check_low_stock
from amss.programs.repository import ProgramRepository
from amss.tasks import service as task_service
from amss.tasks.schemas import TaskTransition
from amss.users.repository import UserRepository

DEMO_ORGANIZATION = "Demo Airline"
DEMO_PASSWORD = "ChangeMe123!"  # noqa: S105 (published demo credential)
# (email, role, name, certificate number, authorizations): the mechanic holds an A&P
# certificate; the inspector also holds Inspection Authorization, which the annual needs.
DEMO_USERS: tuple[tuple[str, Role, str, str | None, tuple[str, ...]], ...] = (
    ("admin@demo.local", "admin", "Demo Administrator", None, ()),
    ("tenant-admin@demo.local", "tenant_admin", "Demo Tenant Admin", None, ()),
    ("scheduler@demo.local", "scheduler", "Demo Scheduler", None, ()),
    ("mechanic@demo.local", "mechanic", "Demo Mechanic", "3412877", ("A&P",)),
    ("inspector@demo.local", "mechanic", "Demo Inspector", "2984410", ("A&P", "IA")),
    ("auditor@demo.local", "auditor", "Demo Auditor", None, ()),
    ("viewer@demo.local", "viewer", "Demo Viewer", None, ()),
)


# (tail number, model, serial, hours at entry into AMSS, cycles, typical hours/day, cycles/day)
DEMO_FLEET: tuple[tuple[str, str, str, float, int, float, float], ...] = (
    ("N172DA", "C172S", "172S11001", 2150.0, 3100, 3.0, 3.0),
    ("N172DB", "C172S", "172S11002", 1890.0, 2750, 2.5, 2.5),
    ("N172DC", "C172S", "172S11003", 4020.0, 6100, 3.5, 4.0),
    ("N172DD", "C172S", "172S11004", 975.0, 1400, 2.0, 2.0),
    ("N172DE", "C172S", "172S11005", 3310.0, 5020, 3.0, 3.0),
    ("N42DA", "DA42", "42.AC101", 1420.0, 1650, 2.5, 2.0),
    ("N42DB", "DA42", "42.AC102", 2210.0, 2600, 3.0, 2.5),
    ("N42DC", "DA42", "42.AC103", 640.0, 720, 1.5, 1.0),
    ("N320DA", "A320", "MSN5012", 28150.0, 17200, 10.5, 5.0),
    ("N320DB", "A320", "MSN5177", 31020.0, 19850, 11.0, 5.5),
    ("N320DC", "A320", "MSN6023", 19870.0, 11960, 9.5, 4.5),
    ("N320DD", "A320", "MSN6190", 24400.0, 15010, 10.0, 5.0),
)

# Every interval kind: hours with tolerance and scheduled basis, calendar months, hours or
# months, hours or days, cycles.
DEMO_PROGRAMS: tuple[dict[str, Any], ...] = (
    {
        "name": "100-hour inspection",
        "aircraft_model": "C172S",
        "ata_chapter": "05",
        "interval_hours": Decimal(100),
        "tolerance_hours": Decimal(10),
        "next_due_basis": "scheduled",
        "estimated_duration_hours": Decimal(6),
    },
    {
        "name": "Annual inspection",
        "interval_months": 12,
        "ata_chapter": "05",
        "estimated_duration_hours": Decimal(16),
        # 14 CFR 65.95: only a mechanic holding Inspection Authorization signs an annual.
        "required_authorization": "IA",
    },
    {
        "name": "Oil change",
        "aircraft_model": "C172S",
        "ata_chapter": "12",
        "interval_hours": Decimal(50),
        "interval_months": 4,
        "estimated_duration_hours": Decimal(1),
        # The engine maker's recommendation, not an airworthiness limit for a Part 91
        # operator: overdue, it is reported, and the aircraft flies on.
        "mandatory": False,
    },
    {
        "name": "Oil change",
        "aircraft_model": "DA42",
        "ata_chapter": "12",
        "interval_hours": Decimal(100),
        "interval_months": 6,
        "estimated_duration_hours": Decimal(2),
        "mandatory": False,
    },
    {
        "name": "A-check",
        "aircraft_model": "A320",
        "ata_chapter": "05",
        "interval_hours": Decimal(750),
        "interval_days": 120,
        "tolerance_hours": Decimal(75),
        "estimated_duration_hours": Decimal(10),
    },
    {
        "name": "Landing gear inspection",
        "aircraft_model": "A320",
        "ata_chapter": "32",
        "interval_cycles": 2000,
        "tolerance_cycles": 100,
        "estimated_duration_hours": Decimal(8),
    },
)

# Days of flying history before today; the meters each aircraft entered AMSS with are its
# ``initial`` entry, dated the day before that history starts.
HISTORY_DAYS = 90

_DEMO_UTILIZATION = text(
    """
    INSERT INTO utilization_entries (org_id, aircraft_id, flight_date, flight_hours, cycles, source)
    SELECT a.org_id, a.id, CAST(:today AS date) - d,
           round(CAST(:hours AS numeric)
                 * (0.5 + ((d * 37 + length(a.tail_number) * 11) % 10) / 10.0), 1),
           CAST(round(CAST(:cycles AS numeric) * (0.5 + ((d * 53) % 10) / 10.0)) AS integer),
           'demo'
    FROM aircraft a, generate_series(1, :days) AS d
    WHERE a.org_id = :org_id AND a.id = :aircraft_id
    """
)

# When each requirement was last done, days ago, by tail number: what the operator's
# logbooks say. The annual of N172DE has lapsed (the aircraft is grounded) and N172DB's is
# due soon; N172DD's oil change is overdue (not mandatory: it flies on); the rest are in date.
DEMO_LAST_DONE: dict[str, dict[str, int]] = {
    "100-hour inspection": {"N172DA": 20, "N172DB": 35, "N172DC": 31, "N172DD": 50, "N172DE": 28},
    "Annual inspection": {
        "N172DA": 120,
        "N172DB": 345,
        "N172DC": 200,
        "N172DD": 60,
        "N172DE": 400,
        "N42DA": 150,
        "N42DB": 90,
        "N42DC": 300,
        "N320DA": 210,
        "N320DB": 40,
        "N320DC": 160,
        "N320DD": 260,
    },
    "Oil change": {
        "N172DA": 9,
        "N172DB": 14,
        "N172DC": 8,
        "N172DD": 33,
        "N172DE": 10,
        "N42DA": 25,
        "N42DB": 20,
        "N42DC": 30,
    },
    "A-check": {"N320DA": 55, "N320DB": 60, "N320DC": 75, "N320DD": 65},
    "Landing gear inspection": {"N320DA": 250, "N320DB": 120, "N320DC": 300, "N320DD": 400},
}


async def _seed_last_done(uow: UnitOfWork, system: Caller, now: datetime) -> None:
    """Real last-done records: within the flying history the meters of that day, before it
    the meters the operator's logbook gives (here: the entry meters less the average)."""
    session = uow.session
    fleet = {
        row.tail_number: row
        for row in await session.execute(
            select(aircraft.c.id, aircraft.c.tail_number, aircraft.c.model).where(
                aircraft.c.org_id == system.org_id
            )
        )
    }
    entry = {spec[0]: spec for spec in DEMO_FLEET}
    programs = (
        (
            await session.execute(
                select(maintenance_programs).where(maintenance_programs.c.org_id == system.org_id)
            )
        )
        .mappings()
        .all()
    )
    repo = AircraftRepository(session, system.org_id)
    done = []
    for program in programs:
        for tail, days_ago in DEMO_LAST_DONE[program["name"]].items():
            craft = fleet[tail]
            if program["aircraft_model"] not in (None, craft.model):
                continue
            if days_ago <= HISTORY_DAYS:
                hours, cycles = await repo.meters_at(craft.id, (now - timedelta(days_ago)).date())
            else:
                _, _, _, hours_in, cycles_in, per_day, cycles_per_day = entry[tail]
                before = days_ago - HISTORY_DAYS - 1
                hours = Decimal(str(round(hours_in - before * per_day, 1)))
                cycles = int(cycles_in - before * cycles_per_day)
            done.append(
                records.Accomplishment(
                    program_id=program["id"],
                    aircraft_id=craft.id,
                    performed_at=now - timedelta(days=days_ago),
                    performed_hours=hours,
                    performed_cycles=cycles,
                    source="record",
                    reference=f"{tail} logbook, entry of {(now - timedelta(days_ago)).date()}",
                    certified_by_name="J. Rivera",
                    certificate_number="A&P 3412876",
                )
            )
    await records.write(uow, system, done)


@dataclass(frozen=True)
class SeedResult:
    org_id: UUID
    created_organization: bool
    created_users: int
    created_aircraft: int = 0


async def _seed_fleet(uow: UnitOfWork, system: Caller) -> int:
    """A dozen aircraft with 90 days of utilization and programs of every interval kind."""
    session = uow.session
    has_fleet = await session.scalar(
        select(aircraft.c.id).where(aircraft.c.org_id == system.org_id).limit(1)
    )
    if has_fleet is not None:
        return 0
    now = utcnow()
    fleet = AircraftRepository(session, system.org_id)
    ids = []
    for tail, model, serial, hours, cycles, per_day, cycles_per_day in DEMO_FLEET:
        row = await fleet.insert(
            tail_number=tail,
            model=model,
            serial_number=serial,
            avg_daily_hours=Decimal(str(per_day)),
            avg_daily_cycles=Decimal(str(cycles_per_day)),
        )
        await UtilizationRepository(session, system.org_id).append(
            row["id"],
            flight_date=now.date() - timedelta(days=HISTORY_DAYS + 1),
            flight_hours=Decimal(str(hours)),
            cycles=cycles,
            source="initial",
        )
        await session.execute(
            _DEMO_UTILIZATION,
            {
                "org_id": system.org_id,
                "aircraft_id": row["id"],
                "today": now.date(),
                "hours": per_day,
                "cycles": cycles_per_day,
                "days": HISTORY_DAYS,
            },
        )
        await journal.record(
            uow,
            system,
            entity_type="aircraft",
            entity_id=row["id"],
            action="create",
            details={"new": {"tail_number": tail, "model": model}, "source": "seed"},
            entity_version=row["version"],
        )
        ids.append(row["id"])
    await session.execute(_METERS_FROM_ENTRIES, {"org_id": system.org_id})
    programs = ProgramRepository(session, system.org_id)
    seeded: dict[str, UUID] = {}
    for spec in DEMO_PROGRAMS:
        program = await programs.insert(**spec)
        seeded.setdefault(program["name"], program["id"])
        await journal.record(
            uow,
            system,
            entity_type="maintenance_program",
            entity_id=program["id"],
            action="create",
            details={"new": {"name": program["name"]}, "source": "seed"},
            entity_version=program["version"],
        )
    # An annual is at least a 100-hour inspection (14 CFR 91.409(b)): doing it does both.
    await programs.set_satisfied(seeded["Annual inspection"], [seeded["100-hour inspection"]])
    await _seed_last_done(uow, system, now)
    await _seed_parts(uow, system)
    await engine.after_change(uow, system, reason="demo data loaded", utilization=True)
    return len(ids)


# The meters are the sum of the entries: the initial one and the flying history.
_METERS_FROM_ENTRIES = text(
    """
    UPDATE aircraft a
    SET flight_hours_total = s.hours, cycles_total = s.cycles
    FROM (SELECT aircraft_id, sum(flight_hours) AS hours, sum(cycles) AS cycles
          FROM utilization_entries WHERE org_id = :org_id GROUP BY aircraft_id) s
    WHERE a.id = s.aircraft_id
    """
)


# (name, part number, category, min stock, [(serial, days to expiry or None)])
DEMO_PARTS: tuple[tuple[str, str, str, int, list[tuple[str, int | None]]], ...] = (
    (
        "Oil filter",
        "CH48110-1",
        "engine",
        4,
        [
            ("OF-1001", 400),
            ("OF-1002", 120),
            ("OF-1003", 700),
            ("OF-1004", None),
            ("OF-1005", 900),
            ("OF-1006", 60),
        ],
    ),
    ("Spark plug", "REM38E", "ignition", 8, [(f"SP-20{n:02d}", None) for n in range(1, 8)]),
    (
        "Brake lining",
        "66-105",
        "landing gear",
        2,
        [("BL-301", None), ("BL-302", None), ("BL-303", None)],
    ),
    (
        "Engine oil 1 qt",
        "AS-W100PLUS",
        "consumable",
        12,
        [(f"OIL-{n:03d}", 540) for n in range(1, 19)],
    ),
)


async def _seed_parts(uow: UnitOfWork, system: Caller) -> None:
    """Stock with one definition already below its minimum; the 100-hour needs parts."""
    session = uow.session
    today = utcnow().date()
    definitions = DefinitionRepository(session, system.org_id)
    items = ItemRepository(session, system.org_id)
    by_name = {}
    for name, number, category, min_stock, serials in DEMO_PARTS:
        definition = await definitions.insert(
            name=name, part_number=number, category=category, min_stock=min_stock
        )
        by_name[name] = definition["id"]
        for serial, days in serials:
            await items.insert(
                part_definition_id=definition["id"],
                serial_number=serial,
                expiry_date=today + timedelta(days=days) if days is not None else None,
                location="Main stores, bin " + number[:4],
            )
        await journal.record(
            uow,
            system,
            entity_type="part_definition",
            entity_id=definition["id"],
            action="create",
            details={"new": {"name": name, "items": len(serials)}, "source": "seed"},
            entity_version=definition["version"],
        )
    hundred_hour = await session.scalar(
        select(maintenance_programs.c.id).where(
            maintenance_programs.c.org_id == system.org_id,
            maintenance_programs.c.name == "100-hour inspection",
        )
    )
    assert hundred_hour is not None
    await ProgramRepository(session, system.org_id).set_required_parts(
        hundred_hour,
        [
            {"part_definition_id": by_name["Oil filter"], "quantity": 1},
            {"part_definition_id": by_name["Spark plug"], "quantity": 4},
            {"part_definition_id": by_name["Engine oil 1 qt"], "quantity": 6},
        ],
    )
    await check_low_stock(uow, system, by_name.values())


async def _seed_work_in_progress(database: Database, org_id: UUID) -> None:
    """The mechanic has started N172DC's 100-hour inspection and signed its steps: one found
    the aileron cable slack (a finding), the next records it re-tensioned (its rectification).
    Nothing blocks the mechanic from completing it."""
    async with UnitOfWork(database.session_factory) as uow:
        mechanic = (
            await uow.session.execute(
                select(users.c.id).where(
                    users.c.org_id == org_id, users.c.email == "mechanic@demo.local"
                )
            )
        ).scalar_one()
        task_id = (
            await uow.session.execute(
                select(maintenance_tasks.c.id)
                .join(aircraft, aircraft.c.id == maintenance_tasks.c.aircraft_id)
                .join(
                    maintenance_programs,
                    maintenance_programs.c.id == maintenance_tasks.c.program_id,
                )
                .where(
                    aircraft.c.org_id == org_id,
                    aircraft.c.tail_number == "N172DC",
                    maintenance_programs.c.name == "100-hour inspection",
                    maintenance_tasks.c.state == "scheduled",
                )
            )
        ).scalar_one()
    caller = Caller(user_id=mechanic, org_id=org_id, home_org_id=org_id, role="mechanic")
    async with UnitOfWork(database.session_factory) as uow:
        await task_service.transition(uow, caller, task_id, TaskTransition(new_state="in_progress"))
    steps = (
        ("Engine compression check: all cylinders above 70/80", "pass", False),
        (
            "Flight control cable tension: left aileron cable 28 lb, below 35 lb minimum",
            "fail",
            False,
        ),
        ("Left aileron cable re-tensioned to 40 lb and safetied; re-inspected", "pass", True),
    )
    previous: UUID | None = None
    for description, result, rectifies in steps:
        async with UnitOfWork(database.session_factory) as uow:
            item = await compliance_service.create_item(
                uow,
                caller,
                ComplianceCreate(
                    task_id=task_id,
                    description=description,
                    result=result,
                    supersedes_id=previous if rectifies else None,
                ),
            )
        async with UnitOfWork(database.session_factory) as uow:
            await compliance_service.sign_off(uow, caller, item.id, SignOff(result=result))
        previous = item.id


async def seed_demo(database: Database) -> SeedResult:
    async with UnitOfWork(database.session_factory) as uow:
        session = uow.session
        org_row = (
            await session.execute(
                select(organizations.c.id)
                .where(
                    organizations.c.name == DEMO_ORGANIZATION, organizations.c.deleted_at.is_(None)
                )
                .with_for_update()
            )
        ).first()
        created_org = org_row is None
        if org_row is None:
            org_id = (await OrganizationRepository(session).create(DEMO_ORGANIZATION))["id"]
        else:
            org_id = org_row[0]
        system = Caller.system(org_id)
        if created_org:
            await journal.record(
                uow,
                system,
                entity_type="organization",
                entity_id=org_id,
                action="create",
                details={"new": {"name": DEMO_ORGANIZATION}, "source": "seed"},
            )
        existing = set(
            (
                await session.execute(
                    select(users.c.email).where(
                        users.c.org_id == org_id, users.c.deleted_at.is_(None)
                    )
                )
            ).scalars()
        )
        repo = UserRepository(session, org_id)
        password_hash = None
        created = 0
        for email, role, name, certificate, authorizations in DEMO_USERS:
            if email in existing:
                continue
            password_hash = password_hash or await hash_password(DEMO_PASSWORD)
            certifying = {
                "certificate_number": certificate,
                "authorizations": list(authorizations),
            }
            row = await repo.insert(
                email=email, role=role, name=name, password_hash=password_hash, **certifying
            )
            await journal.record(
                uow,
                system,
                entity_type="user",
                entity_id=row["id"],
                action="create",
                details={
                    "new": {"email": email, "role": role, "name": name, **certifying},
                    "source": "seed",
                },
                entity_version=row["version"],
            )
            created += 1
        fleet_size = await _seed_fleet(uow, system)
        await uow.commit()
    if fleet_size:
        await _seed_work_in_progress(database, org_id)
    return SeedResult(
        org_id=org_id,
        created_organization=created_org,
        created_users=created,
        created_aircraft=fleet_size,
    )
