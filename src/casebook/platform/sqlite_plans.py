"""Planner statistics for SQLite: what its query planner should assume about a `system` column.

Every table carries `system` (the catalogue slug; `venue` in the matching engine plays the same
part), and most indexes start with it. Without statistics (nothing runs ANALYZE) SQLite assumes
that an equality on an index's first column leaves about 10 rows, so it takes `system = ?` for a
selective search: a query naming a system plus a few keys, such as `system = ? AND blocked_id = ?`
or `system = ? AND id IN (…)`, may walk the covering `(system, blocker_id, blocked_id)` index
or the `(system, source_id, id)` index — every row of the system — instead of looking the keys
up. Measured ANALYZE statistics would fix that, but they describe the data of the moment: taken
on a new database they say every table is empty.

So `write_statistics` writes `sqlite_stat1` from the schema alone, for every index of every
ordinary table: a nominal 1,000,000 rows a table; an equality on a partition column (`system`,
`venue`) keeps half of them; every other key column narrows as SQLite's own defaults say (10
rows, then 9, 8, 7, 6, 5…), and a unique index's full key is 1 row. Only the partition columns
differ from what SQLite assumes without statistics, so plans change only where they searched by
the system alone. `casebook.migrations.upgrade` rewrites them after every upgrade (each `casebook
migrate` and each start of `casebook serve`), replacing any that ANALYZE measured. O(indexes)
statements.
"""

from __future__ import annotations

from sqlalchemy import Connection

PARTITION_COLUMNS = frozenset({"system", "venue"})
"""Columns that split tables into a few large parts rather than identify rows."""
NOMINAL_ROWS = 1_000_000
_DEFAULT_NARROWING = (10, 9, 8, 7, 6)
"""SQLite's rows per equality on an index's 1st, 2nd… key column without statistics
(sqlite3DefaultRowEst); 5 beyond."""


def index_statistics(columns: list[str], unique: bool) -> str:
    """The `sqlite_stat1.stat` text of an index on `columns`."""
    rows = NOMINAL_ROWS
    figures = [rows]
    narrowed = 0
    for column in columns:
        if column in PARTITION_COLUMNS:
            rows = max(1, rows // 2)
        else:
            default = _DEFAULT_NARROWING[narrowed] if narrowed < len(_DEFAULT_NARROWING) else 5
            rows = min(rows, default)
            narrowed += 1
        figures.append(rows)
    if unique:
        figures[-1] = 1
    return " ".join(str(figure) for figure in figures)


def write_statistics(connection: Connection) -> int:
    """Replace `sqlite_stat1` with statistics derived from the schema (see the module) and
    reload them; the number of indexes described. SQLite only; the caller commits."""
    tables = [
        str(name)
        for (name,) in connection.exec_driver_sql(
            "SELECT name FROM main.sqlite_schema WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite~_%' ESCAPE '~' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
        )
    ]
    entries: list[tuple[str, str, str]] = []
    for table in tables:
        for index in connection.exec_driver_sql(f'PRAGMA main.index_list("{table}")').all():
            name, unique = str(index[1]), bool(index[2])
            columns = [
                str(column[2])
                for column in connection.exec_driver_sql(f'PRAGMA main.index_info("{name}")')
            ]
            if columns and all(columns):  # an index on expressions has unnamed columns: skip
                entries.append((table, name, index_statistics(columns, unique)))
    if not tables:
        return 0
    exists = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if exists is None:  # only ANALYZE may create it: one table, a few rows looked at
        connection.exec_driver_sql("PRAGMA analysis_limit = 100")
        connection.exec_driver_sql(f'ANALYZE main."{tables[0]}"')
    connection.exec_driver_sql("DELETE FROM sqlite_stat1")
    if connection.exec_driver_sql(  # samples of a STAT4 build would outweigh the figures
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat4'"
    ).first():
        connection.exec_driver_sql("DELETE FROM sqlite_stat4")
    if entries:
        connection.exec_driver_sql(
            "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES (?, ?, ?)", entries
        )
    connection.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads them
    return len(entries)
