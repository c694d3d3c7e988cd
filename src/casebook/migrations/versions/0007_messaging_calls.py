"""Call signalling moves from Viber into the messaging engine (messaging_calls and _call_lines)

Viber's call logs of revision 0006 are not carried over: 0006 never shipped in a release.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 06:31:52.332042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messaging_calls",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("caller_id", sa.BigInteger(), nullable=False),
        sa.Column("callee_id", sa.BigInteger(), nullable=False),
        sa.Column("caller_device_id", sa.BigInteger(), nullable=False),
        sa.Column("callee_device_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('voice', 'video')", name=op.f("ck_messaging_calls_kind")),
        sa.CheckConstraint(
            "state IN ('ringing', 'accepted', 'declined', 'missed', 'ended', 'busy')",
            name=op.f("ck_messaging_calls_state"),
        ),
        sa.CheckConstraint("caller_id <> callee_id", name=op.f("ck_messaging_calls_not_self")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_calls")),
    )
    with op.batch_alter_table("messaging_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messaging_calls_callee", ["system", "callee_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_messaging_calls_caller", ["system", "caller_id", "id"], unique=False
        )

    op.create_table(
        "messaging_call_lines",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["messaging_calls.id"],
            name=op.f("fk_messaging_call_lines_call_id_messaging_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("system", "user_id", name=op.f("pk_messaging_call_lines")),
    )
    with op.batch_alter_table("messaging_call_lines", schema=None) as batch_op:
        batch_op.create_index("ix_messaging_call_lines_call", ["call_id"], unique=False)

    with op.batch_alter_table("viber_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_viber_calls_callee"))
        batch_op.drop_index(batch_op.f("ix_viber_calls_caller"))

    op.drop_table("viber_call_lines")
    op.drop_table("viber_calls")


def downgrade() -> None:
    op.create_table(
        "viber_calls",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("caller_id", sa.BigInteger(), nullable=False),
        sa.Column("callee_id", sa.BigInteger(), nullable=False),
        sa.Column("caller_device_id", sa.BigInteger(), nullable=False),
        sa.Column("callee_device_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('voice', 'video')", name=op.f("ck_viber_calls_kind")),
        sa.CheckConstraint(
            "state IN ('ringing', 'accepted', 'declined', 'missed', 'ended', 'busy')",
            name=op.f("ck_viber_calls_state"),
        ),
        sa.CheckConstraint("caller_id <> callee_id", name=op.f("ck_viber_calls_not_self")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viber_calls")),
    )
    with op.batch_alter_table("viber_calls", schema=None) as batch_op:
        batch_op.create_index("ix_viber_calls_callee", ["callee_id", "id"], unique=False)
        batch_op.create_index("ix_viber_calls_caller", ["caller_id", "id"], unique=False)
    op.create_table(
        "viber_call_lines",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["viber_calls.id"],
            name=op.f("fk_viber_call_lines_call_id_viber_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_viber_call_lines")),
    )

    with op.batch_alter_table("messaging_call_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_call_lines_call")

    op.drop_table("messaging_call_lines")
    with op.batch_alter_table("messaging_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_calls_caller")
        batch_op.drop_index("ix_messaging_calls_callee")

    op.drop_table("messaging_calls")
