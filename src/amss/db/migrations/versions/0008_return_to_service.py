"""Return to service: certifying users, record entry, findings, mandatory, satisfies.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

What 14 CFR 43.9/43.11 and EASA 145.A.50 require a maintenance record to carry: who
certified the work, with their certificate, or — when a planner transcribes a signed paper
record — the signer's name, certificate and the record it rests on.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Certifying users: a certificate number on record, and the authorizations it
        -- carries (A&P, IA, RII, B1, B2, …), upper-case tags.
        ALTER TABLE users
            ADD COLUMN certificate_number text
                CHECK (length(certificate_number) BETWEEN 1 AND 100),
            ADD COLUMN authorizations text[] NOT NULL DEFAULT '{}'
                CHECK (array_to_string(authorizations, ',')
                       = upper(array_to_string(authorizations, ',')));

        -- Only an overdue mandatory requirement grounds (SPEC §6.6); completing a program's
        -- task may need an authorization; doing one requirement may do others too.
        ALTER TABLE maintenance_programs
            ADD COLUMN mandatory boolean NOT NULL DEFAULT true,
            ADD COLUMN required_authorization text
                CHECK (required_authorization = upper(required_authorization)
                       AND length(required_authorization) BETWEEN 1 AND 20);
        CREATE TABLE program_satisfies (
            org_id uuid NOT NULL,
            program_id uuid NOT NULL,
            satisfied_program_id uuid NOT NULL,
            PRIMARY KEY (program_id, satisfied_program_id),
            FOREIGN KEY (org_id, program_id) REFERENCES maintenance_programs (org_id, id),
            FOREIGN KEY (org_id, satisfied_program_id) REFERENCES maintenance_programs (org_id, id),
            CHECK (program_id <> satisfied_program_id)
        );

        -- Program tasks take the program's mandatory; manual tasks say so when created.
        ALTER TABLE maintenance_tasks
            ADD COLUMN mandatory boolean NOT NULL DEFAULT false,
            ADD COLUMN early boolean,
            ADD COLUMN record_entry boolean NOT NULL DEFAULT false,
            ADD COLUMN certified_by_user_id uuid,
            ADD COLUMN certified_by_name text CHECK (length(certified_by_name) BETWEEN 1 AND 200),
            ADD COLUMN certificate_number text CHECK (length(certificate_number) BETWEEN 1 AND 100),
            ADD COLUMN record_reference text CHECK (length(record_reference) BETWEEN 1 AND 500),
            ADD CONSTRAINT maintenance_tasks_certifier_fk
                FOREIGN KEY (org_id, certified_by_user_id) REFERENCES users (org_id, id);
        UPDATE maintenance_tasks SET mandatory = true WHERE program_id IS NOT NULL;

        -- Findings and rectification: a new item supersedes a failed one of the same task;
        -- the signer's certificate number is copied onto the item it signs.
        ALTER TABLE compliance_items
            ADD CONSTRAINT compliance_items_org_id_uq UNIQUE (org_id, id),
            ADD COLUMN supersedes_id uuid,
            ADD COLUMN certificate_number text CHECK (length(certificate_number) BETWEEN 1 AND 100),
            ADD CONSTRAINT compliance_items_supersedes_fk
                FOREIGN KEY (org_id, supersedes_id) REFERENCES compliance_items (org_id, id),
            ADD CONSTRAINT compliance_items_not_itself CHECK (supersedes_id <> id);
        CREATE INDEX compliance_items_supersedes_idx ON compliance_items (supersedes_id)
            WHERE supersedes_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
