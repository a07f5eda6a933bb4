"""Sacred's SqlObserver tables (FORMATS.md section 5), plus two tables of our own.

Same table and column names and kinds as Sacred 0.8.7, so code written for Sacred's SQL
data (and Sacred itself) reads and writes the same database. Where Sacred's column would
lose data we create a roomier one of the same kind; a column Sacred created keeps its
size, and values are fitted to it when written (:func:`string_limits`):

* strings Sacred limits to 16-64 characters (names, directories, versions) get 256;
* on MySQL/MariaDB, ``TEXT``/``BLOB`` (64 KiB) become ``LONGTEXT``/``LONGBLOB``,
  ``DATETIME`` keeps microseconds (``fsp=6``), and ``result`` and ``priority`` are
  ``DOUBLE`` (Sacred's ``Float`` is single precision there), as on the other engines;
* the status enum also has ``QUEUED`` (Sacred writes it though its enum lacks it) and
  ``SKIPPED``.

Ours: ``metric`` (one row per logged point: Sacred's SQL store keeps no metrics; a point
its columns cannot hold exactly also has ``exact``), ``run_details`` (what Sacred's
columns cannot hold: the whole meta, host and experiment info, a result that is not a
number, the trace as its list of lines, a status outside Sacred's enum) and
``value_part`` (a value too large for one statement to the server, MySQL/MariaDB's
``max_allowed_packet``, in parts: its column holds a short form). Sacred ignores them.
Columns added to them since they were first written (:data:`ADDED_COLUMNS`) are added
to an older database when a writer opens it; readers do without them.
"""

from __future__ import annotations

from typing import Any

STATUSES = ("RUNNING", "COMPLETED", "INTERRUPTED", "TIMEOUT", "FAILED", "QUEUED", "SKIPPED")
#: the tables and columns a database must have (when it has the table) to be written to
REQUIRED_COLUMNS = {
    "run": {"id", "run_id", "command", "start_time", "heartbeat", "stop_time", "queue_time",
            "priority", "comment", "fail_trace", "captured_out", "config", "info", "status",
            "host_id", "experiment_id", "result"},
    "experiment": {"experiment_id", "name", "md5sum", "base_dir"},
    "host": {"host_id", "cpu", "hostname", "os", "os_info", "python_version"},
    "source": {"source_id", "filename", "md5sum", "content"},
    "dependency": {"dependency_id", "name", "version"},
    "repository": {"repository_id", "url", "commit", "dirty"},
    "artifact": {"artifact_id", "filename", "content", "run_id"},
    "resource": {"resource_id", "filename", "md5sum", "content"},
    "experiments_sources": {"experiment_id", "source_id"},
    "experiments_dependencies": {"experiment_id", "dependency_id"},
    "experiments_repositories": {"experiment_id", "repository_id"},
    "runs_resources": {"run_id", "resource_id"},
    "metric": {"metric_id", "run_id", "name", "step", "value", "timestamp"},
    "run_details": {"run_id", "meta", "host", "experiment", "result", "fail_trace"},
    "value_part": {"run_id", "field", "part", "content"},
}


#: columns of our own tables that databases written before them lack: ``(table, column)``
ADDED_COLUMNS = (("metric", "exact"), ("run_details", "status"))
#: the longest artifact name the ``artifact.filename`` column we create holds
ARTIFACT_NAME_CHARS = 4096


def build_metadata() -> Any:
    """The SQLAlchemy ``MetaData`` of every table (built on demand: sqlalchemy is optional)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql

    def text() -> Any:
        return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

    def blob() -> Any:
        return sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

    def when() -> Any:
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

    def fk(column: str) -> Any:
        return sa.ForeignKey(column)

    md = sa.MetaData()
    sa.Table("host", md, sa.Column("host_id", sa.Integer, primary_key=True),
             sa.Column("cpu", sa.String(256)), sa.Column("hostname", sa.String(256)),
             sa.Column("os", sa.String(64)), sa.Column("os_info", sa.String(256)),
             sa.Column("python_version", sa.String(64)))
    sa.Table("experiment", md, sa.Column("experiment_id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(256)), sa.Column("md5sum", sa.String(32)),
             sa.Column("base_dir", sa.String(1024)))
    sa.Table("source", md, sa.Column("source_id", sa.Integer, primary_key=True),
             sa.Column("filename", sa.String(256)), sa.Column("md5sum", sa.String(32)),
             sa.Column("content", text()))
    sa.Table("dependency", md, sa.Column("dependency_id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(256)), sa.Column("version", sa.String(64)))
    sa.Table("repository", md, sa.Column("repository_id", sa.Integer, primary_key=True),
             sa.Column("url", sa.String(2048)), sa.Column("commit", sa.String(40)),
             sa.Column("dirty", sa.Boolean))
    sa.Table("resource", md, sa.Column("resource_id", sa.Integer, primary_key=True),
             sa.Column("filename", sa.String(256)), sa.Column("md5sum", sa.String(32)),
             sa.Column("content", blob()))
    sa.Table("run", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("run_id", sa.String(24), unique=True),
             sa.Column("command", sa.String(256)),
             sa.Column("start_time", when()), sa.Column("heartbeat", when()),
             sa.Column("stop_time", when()), sa.Column("queue_time", when()),
             sa.Column("priority", sa.Double), sa.Column("comment", text()),
             sa.Column("fail_trace", text()), sa.Column("captured_out", text()),
             sa.Column("config", text()), sa.Column("info", text()),
             sa.Column("status", sa.Enum(*STATUSES, name="status_enum")),
             sa.Column("host_id", sa.Integer, fk("host.host_id")),
             sa.Column("experiment_id", sa.Integer, fk("experiment.experiment_id")),
             sa.Column("result", sa.Double))
    sa.Table("artifact", md, sa.Column("artifact_id", sa.Integer, primary_key=True),
             sa.Column("filename", sa.String(ARTIFACT_NAME_CHARS)),
             sa.Column("content", blob()),
             sa.Column("run_id", sa.String(24), fk("run.run_id")))
    for name, other, key in (("experiments_sources", "source", "source_id"),
                             ("experiments_dependencies", "dependency", "dependency_id"),
                             ("experiments_repositories", "repository", "repository_id")):
        sa.Table(name, md,
                 sa.Column("experiment_id", sa.Integer, fk("experiment.experiment_id")),
                 sa.Column(key, sa.Integer, fk(f"{other}.{key}")))
    sa.Table("runs_resources", md, sa.Column("run_id", sa.String(24), fk("run.run_id")),
             sa.Column("resource_id", sa.Integer, fk("resource.resource_id")))
    sa.Table("metric", md, sa.Column("metric_id", sa.Integer, primary_key=True),
             sa.Column("run_id", sa.String(24), fk("run.run_id")),
             sa.Column("name", sa.String(256)), sa.Column("step", sa.BigInteger),
             sa.Column("value", sa.Double), sa.Column("timestamp", when()),
             sa.Column("exact", text()),
             sa.Index("metric_run_name", "run_id", "name"))
    sa.Table("run_details", md,
             sa.Column("run_id", sa.String(24), fk("run.run_id"), primary_key=True),
             sa.Column("meta", text()), sa.Column("host", text()),
             sa.Column("experiment", text()), sa.Column("result", text()),
             sa.Column("fail_trace", text()), sa.Column("status", sa.String(64)))
    sa.Table("value_part", md,
             sa.Column("run_id", sa.String(24), fk("run.run_id"), primary_key=True),
             sa.Column("field", sa.String(64), primary_key=True),  # "table.column"
             sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("content", text()))
    return md


def incompatible(inspector: Any, schema: str | None = None) -> list[str]:
    """What keeps the database from holding Sacred's tables: ``[]`` when nothing does."""
    present = set(inspector.get_table_names(schema=schema))
    problems = []
    for table, required in REQUIRED_COLUMNS.items():
        if table in present:
            columns = {c["name"] for c in inspector.get_columns(table, schema=schema)}
            missing = sorted(required - columns)
            if missing:
                problems.append(f"table {table!r} lacks column(s) {', '.join(missing)}")
    return problems


def string_limits(inspector: Any, schema: str | None = None) -> dict[tuple[str, str], int]:
    """``(table, column) -> length`` of every bounded string column, as the database has it."""
    limits = {}
    for table in REQUIRED_COLUMNS:
        try:
            columns = inspector.get_columns(table, schema=schema)
        except Exception:  # not created yet: ours, sized as above
            continue
        for column in columns:
            length = getattr(column["type"], "length", None)
            if isinstance(length, int):
                limits[(table, column["name"])] = length
    return limits
