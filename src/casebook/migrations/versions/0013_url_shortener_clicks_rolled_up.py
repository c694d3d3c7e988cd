"""URL Shortener clicks rolled up: one row per (link, hour, referrer host, country, agent family)
with a count, instead of one row per click. Existing clicks are folded into the new table.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from casebook.platform.ids import new_id

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "urlshortener_click_counts",
        sa.Column("link_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("referrer_host", sa.String(length=253), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("agent", sa.String(length=16), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["urlshortener_links.id"],
            name=op.f("fk_urlshortener_click_counts_link_id_urlshortener_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "link_id",
            "hour",
            "referrer_host",
            "country",
            "agent",
            name=op.f("pk_urlshortener_click_counts"),
        ),
    )
    op.execute(
        "INSERT INTO urlshortener_click_counts "
        "(link_id, hour, referrer_host, country, agent, clicks) "
        "SELECT link_id, hour, COALESCE(referrer_host, ''), COALESCE(country, ''), agent, "
        "COUNT(*) FROM urlshortener_clicks "
        "GROUP BY link_id, hour, COALESCE(referrer_host, ''), COALESCE(country, ''), agent"
    )
    with op.batch_alter_table("urlshortener_clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_urlshortener_clicks_link_id_hour"))
    op.drop_table("urlshortener_clicks")


def downgrade() -> None:
    clicks = op.create_table(
        "urlshortener_clicks",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("link_id", sa.BigInteger(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("referrer_host", sa.String(length=253), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("agent", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["urlshortener_links.id"],
            name=op.f("fk_urlshortener_clicks_link_id_urlshortener_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urlshortener_clicks")),
    )
    with op.batch_alter_table("urlshortener_clicks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_urlshortener_clicks_link_id_hour"), ["link_id", "hour"], unique=False
        )
    # One row per counted click, at the start of its hour (the rollup kept no finer time).
    connection = op.get_bind()
    rollup = connection.execute(
        sa.text(
            "SELECT link_id, hour, referrer_host, country, agent, clicks "
            "FROM urlshortener_click_counts ORDER BY link_id, hour"
        )
    ).all()
    rows = []
    for link_id, hour, referrer, country, agent, count in rollup:
        at = datetime.fromtimestamp(hour * 3600, tz=UTC)
        for _ in range(count):
            rows.append(
                {
                    "id": new_id(),
                    "link_id": link_id,
                    "clicked_at": at,
                    "hour": hour,
                    "referrer_host": referrer or None,
                    "country": country or None,
                    "agent": agent,
                }
            )
    if rows:
        op.bulk_insert(clicks, rows)
    op.drop_table("urlshortener_click_counts")
