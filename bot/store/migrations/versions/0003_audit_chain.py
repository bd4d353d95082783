"""Console security (issue 20): the audit log becomes an append-only hash chain without raw
conversation ids; login throttling moves out of the accounts table.

- audit_log: ``conversation_id`` is replaced by ``conversation_ref``, its HMAC-SHA256 keyed with
  AUDIT_KEY (bot/store/audit.py), so rows can outlive the conversation without naming it;
  ``prev_hash`` and ``hash`` chain every row to the one before (existing rows are chained in id
  order, the first one to the genesis hash); ``checkpoint_through`` marks the rows the log's
  own retention removed. Triggers refuse UPDATE and DELETE (DELETE passes only for rows a
  checkpoint covers) and, in PostgreSQL, TRUNCATE.
- audit_head: the one row every append locks, so two writers never fork the chain.
- counsellors: ``failed_logins`` and ``locked_until`` go. A failed login no longer locks the
  account (anyone could lock the counsellors out); bot/console/ratelimit.py slows guessing.

AUDIT_KEY must be set for this upgrade (in dev, var/audit_key, made if missing). On SQLite a
later migration that alters audit_log in batch mode recreates the table and drops its triggers:
it must create them again (``python -m bot.console audit-verify`` reports them missing).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# This revision's own copy of the triggers (bot/store/models.py has the same for create_all).
TRIGGERS = {
    "sqlite": (
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "WHEN OLD.id > (SELECT coalesce(max(checkpoint_through), 0) FROM audit_log) BEGIN "
        "SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND OLD.id <= (
              SELECT coalesce(max(checkpoint_through), 0) FROM audit_log) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
        END $$""",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ),
}
DROP_TRIGGERS = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
        "DROP TRIGGER IF EXISTS audit_log_no_delete ON audit_log",
        "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
        "DROP FUNCTION IF EXISTS audit_log_append_only()",
    ),
}


def _chain_existing_rows(connection: sa.engine.Connection) -> int:
    """Pseudonymise and chain the rows there are, in id order (the hash format is
    bot.store.audit's format 1, which stays verifiable for ever)."""
    import hashlib

    from bot.store.audit import GENESIS, canonical, conversation_ref

    log = sa.table(
        "audit_log", sa.column("id", sa.Integer), sa.column("at", sa.DateTime),
        sa.column("actor", sa.String), sa.column("action", sa.String),
        sa.column("handoff_id", sa.String), sa.column("conversation_id", sa.String),
        sa.column("conversation_ref", sa.String), sa.column("detail", sa.Text),
        sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
    )  # fmt: skip
    rows = connection.execute(
        sa.select(log.c.id, log.c.at, log.c.actor, log.c.action, log.c.handoff_id,
                  log.c.conversation_id, log.c.detail).order_by(log.c.id)
    ).all()  # fmt: skip
    previous = GENESIS
    for row in rows:
        ref = conversation_ref(row.conversation_id) if row.conversation_id is not None else None
        digest = hashlib.sha256(
            canonical(
                id=row.id, at=row.at, actor=row.actor, action=row.action,
                handoff_id=row.handoff_id, conversation_ref=ref, detail=row.detail,
                checkpoint_through=None, prev_hash=previous,
            )
        ).hexdigest()  # fmt: skip
        connection.execute(
            log.update().where(log.c.id == row.id)
            .values(conversation_ref=ref, prev_hash=previous, hash=digest)
        )  # fmt: skip
        previous = digest
    return len(rows)


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("conversation_ref", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("checkpoint_through", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    count = _chain_existing_rows(connection)
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_conversation_id")
        batch.drop_column("conversation_id")
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("ix_audit_log_conversation_ref", ["conversation_ref"])
        batch.create_index("ix_audit_log_checkpoint_through", ["checkpoint_through"])
        batch.create_index("ix_audit_log_actor", ["actor"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("appends", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(sa.text(f"INSERT INTO audit_head (id, appends) VALUES (1, {int(count)})"))
    for statement in TRIGGERS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)

    with op.batch_alter_table("counsellors") as batch:
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")


def downgrade() -> None:
    """The chain columns and the triggers go; conversation ids cannot come back (only their
    pseudonyms were kept), so ``conversation_id`` returns empty."""
    connection = op.get_bind()
    with op.batch_alter_table("counsellors") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
    for statement in DROP_TRIGGERS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_actor")
        batch.drop_index("ix_audit_log_checkpoint_through")
        batch.drop_index("ix_audit_log_conversation_ref")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("checkpoint_through")
        batch.drop_column("conversation_ref")
        batch.add_column(sa.Column("conversation_id", sa.String(length=255), nullable=True))
        batch.create_index("ix_audit_log_conversation_id", ["conversation_id"])
