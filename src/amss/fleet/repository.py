"""Queries of aircraft (with their effective daily rates) and utilization entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping

from amss.db.scoped import NaturalKey, ScopedRepository, fetch_first, fetch_one
from amss.db.tables import aircraft, maintenance_tasks, org_policies, utilization_entries
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow

RATE_WINDOW_DAYS = 90
# Entries that set a meter rather than record flying: the meters an aircraft entered AMSS
# with, and raises made by hand. They (and corrections of them) never count as flying.
METER_SETTINGS = ("initial", "manual")
_SETTINGS_SQL = "(" + ", ".join(f"'{source}'" for source in METER_SETTINGS) + ")"

# Observed rate per meter: the last 90 days' flying over the days spanned (earliest entry
# through the organization's local today).
_REFRESH_RATES = text(
    f"""
    WITH today AS (
        SELECT (CAST(:now AS timestamptz) AT TIME ZONE pol.time_zone)::date AS day
        FROM org_policies pol WHERE pol.org_id = :org_id
    ),
    observed AS (
        SELECT a.id,
               sum(u.flight_hours) AS hours,
               sum(u.cycles) AS cycles,
               (SELECT day FROM today) - min(u.flight_date) + 1 AS days
        FROM aircraft a
        LEFT JOIN (utilization_entries u
                   LEFT JOIN utilization_entries corrected ON corrected.id = u.corrects_id)
               ON u.org_id = a.org_id AND u.aircraft_id = a.id
              AND u.source NOT IN {_SETTINGS_SQL}
              AND coalesce(corrected.source, '') NOT IN {_SETTINGS_SQL}
              AND u.flight_date > (SELECT day FROM today) - :window
        WHERE a.org_id = :org_id AND a.id = ANY(:aircraft_ids)
        GROUP BY a.id
    )
    UPDATE aircraft a
    SET observed_daily_hours = CASE WHEN o.days IS NULL THEN NULL
                                    ELSE round(greatest(o.hours, 0) / o.days, 3) END,
        observed_daily_cycles = CASE WHEN o.days IS NULL THEN NULL
                                     ELSE round(greatest(o.cycles, 0)::numeric / o.days, 3) END
    FROM observed o
    WHERE a.id = o.id
    """
)


def meter_at(meter: str, aircraft_id: str, day: str) -> str:
    """SQL: an aircraft's meter (``hours`` or ``cycles``) as it stood at the end of ``day``
    (a local date): today's meter less every entry dated after it. A correction counts on
    the date of the entry it corrects. The initial entry (and its corrections) is the
    meter the aircraft entered AMSS with, set net of any history back-filled before it
    (SPEC §6.1): it stands before every other entry, whatever its date."""
    total, amount = {
        "hours": ("flight_hours_total", "flight_hours"),
        "cycles": ("cycles_total", "cycles"),
    }[meter]
    return f"""(SELECT m_.{total} - coalesce((
                   SELECT sum(u_.{amount}) FROM utilization_entries u_
                   LEFT JOIN utilization_entries c_ ON c_.id = u_.corrects_id
                   WHERE u_.aircraft_id = m_.id
                     AND coalesce(c_.source, u_.source) <> 'initial'
                     AND coalesce(c_.flight_date, u_.flight_date) > {day}), 0)
               FROM aircraft m_ WHERE m_.id = {aircraft_id})"""


_METERS_AT = text(
    f"""
    SELECT {meter_at("hours", "CAST(:aircraft_id AS uuid)", "CAST(:day AS date)")} AS hours,
           {meter_at("cycles", "CAST(:aircraft_id AS uuid)", "CAST(:day AS date)")} AS cycles
    """
)


class AircraftRepository(ScopedRepository):
    table = aircraft
    noun = "aircraft"
    natural_keys = (
        NaturalKey(
            "tail_number", "an aircraft with tail number {value} already exists", func.upper
        ),
    )

    def select(self) -> Select[Any]:
        return (
            select(
                aircraft,
                org_policies.c.time_zone,
                func.coalesce(
                    aircraft.c.observed_daily_hours,
                    aircraft.c.avg_daily_hours,
                    org_policies.c.default_daily_hours,
                ).label("daily_hours_rate"),
                func.coalesce(
                    aircraft.c.observed_daily_cycles,
                    aircraft.c.avg_daily_cycles,
                    org_policies.c.default_daily_cycles,
                ).label("daily_cycles_rate"),
            )
            .join(org_policies, org_policies.c.org_id == aircraft.c.org_id)
            .where(*self.scope())
        )

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        if filters.get("status"):
            statement = statement.where(aircraft.c.status == filters["status"])
        if filters.get("model"):
            statement = statement.where(aircraft.c.model == filters["model"])
        if filters.get("tail_number"):
            statement = statement.where(
                func.upper(aircraft.c.tail_number) == filters["tail_number"].upper()
            )
        return await self.page(statement, page, [aircraft.c.tail_number])

    async def tasks_in_progress(self, aircraft_id: UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).where(
                    maintenance_tasks.c.org_id == self.org_id,
                    maintenance_tasks.c.aircraft_id == aircraft_id,
                    maintenance_tasks.c.state == "in_progress",
                    maintenance_tasks.c.deleted_at.is_(None),
                )
            )
            or 0
        )

    async def add_to_meters(self, aircraft_id: UUID, hours: Decimal, cycles: int) -> RowMapping:
        statement = (
            update(aircraft)
            .where(*self.scope(), aircraft.c.id == aircraft_id)
            .values(
                flight_hours_total=aircraft.c.flight_hours_total + hours,
                cycles_total=aircraft.c.cycles_total + cycles,
                version=aircraft.c.version + 1,
                updated_at=utcnow(),
            )
            .returning(aircraft)
        )
        return await fetch_one(self.session, statement)

    async def record_maintenance(self, aircraft_id: UUID, at: datetime) -> None:
        """``last_maintenance``: when work on the aircraft was last completed (a back-dated
        completion never moves it back)."""
        await self.session.execute(
            update(aircraft)
            .where(*self.scope(), aircraft.c.id == aircraft_id)
            .values(last_maintenance=func.greatest(aircraft.c.last_maintenance, at))
        )

    async def refresh_observed_rates(self, aircraft_ids: Sequence[UUID], now: datetime) -> None:
        await self.session.execute(
            _REFRESH_RATES,
            {
                "org_id": self.org_id,
                "aircraft_ids": list(aircraft_ids),
                "now": now,
                "window": RATE_WINDOW_DAYS,
            },
        )

    async def meters_at(self, aircraft_id: UUID, day: date) -> tuple[Decimal, int]:
        """The meters at the end of a local date: now, less everything flown after it."""
        row = (
            await self.session.execute(_METERS_AT, {"aircraft_id": aircraft_id, "day": day})
        ).one()
        return Decimal(row.hours), int(row.cycles)


class UtilizationRepository(ScopedRepository):
    """Append-only utilization entries of one organization."""

    table = utilization_entries
    noun = "utilization entry"
    has_soft_delete = False

    def _of(self, aircraft_id: UUID) -> Select[Any]:
        return self.select().where(utilization_entries.c.aircraft_id == aircraft_id)

    async def get_entry(self, aircraft_id: UUID, entry_id: UUID) -> RowMapping | None:
        return await fetch_first(
            self.session, self._of(aircraft_id).where(utilization_entries.c.id == entry_id)
        )

    async def by_external_id(self, aircraft_id: UUID, external_id: str) -> RowMapping | None:
        return await fetch_first(
            self.session,
            self._of(aircraft_id).where(utilization_entries.c.external_id == external_id),
        )

    async def flown_on(self, aircraft_id: UUID, flight_date: date) -> Decimal:
        """Flight hours already recorded for that day (corrections and meter settings
        excluded)."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(utilization_entries.c.flight_hours), 0)).where(
                utilization_entries.c.org_id == self.org_id,
                utilization_entries.c.aircraft_id == aircraft_id,
                utilization_entries.c.flight_date == flight_date,
                utilization_entries.c.corrects_id.is_(None),
                utilization_entries.c.source.not_in(METER_SETTINGS),
            )
        )
        return Decimal(total or 0)

    async def net_of(self, entry_id: UUID) -> tuple[Decimal, int]:
        """What an entry and its corrections add up to: what a new correction may take back."""
        row = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(utilization_entries.c.flight_hours), 0),
                    func.coalesce(func.sum(utilization_entries.c.cycles), 0),
                ).where(
                    utilization_entries.c.org_id == self.org_id,
                    (utilization_entries.c.id == entry_id)
                    | (utilization_entries.c.corrects_id == entry_id),
                )
            )
        ).one()
        return Decimal(row[0]), int(row[1])

    async def append(self, aircraft_id: UUID, **values: Any) -> RowMapping | None:
        """The new entry, or None when its ``external_id`` is already recorded."""
        statement = (
            insert(utilization_entries)
            .values(org_id=self.org_id, aircraft_id=aircraft_id, **values)
            .on_conflict_do_nothing(
                index_elements=["org_id", "aircraft_id", "external_id"],
                index_where=utilization_entries.c.external_id.is_not(None),
            )
            .returning(utilization_entries)
        )
        return await fetch_first(self.session, statement)

    async def list_for(
        self, aircraft_id: UUID, page: Page, date_from: date | None, date_to: date | None
    ) -> tuple[list[RowMapping], int]:
        statement = self._of(aircraft_id)
        if date_from:
            statement = statement.where(utilization_entries.c.flight_date >= date_from)
        if date_to:
            statement = statement.where(utilization_entries.c.flight_date <= date_to)
        order = [utilization_entries.c.flight_date.desc(), utilization_entries.c.created_at.desc()]
        return await self.page(statement, page, order)
