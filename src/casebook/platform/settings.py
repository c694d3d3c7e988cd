"""Settings for every process, read from `CASEBOOK_*` environment variables.

The defaults are the embedded mode: SQLite under `./var/`, in-process cache, bus, jobs and rate
limits. Setting `CASEBOOK_DATABASE_URL` to a PostgreSQL URL and `CASEBOOK_REDIS_URL` moves the same
code onto PostgreSQL and Redis; `CASEBOOK_BLOB_S3_BUCKET` moves blobs into S3.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBOOK_", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    systems: list[str] = Field(default_factory=list)
    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_json: bool = False
    worker_id: int = -1
    tune_gc: bool = False
    """Tune the cyclic garbage collector for a long-running server (`app.tune_gc`): set by
    `casebook serve`; off in tests and tools, which start many short-lived apps."""
    gc_young_threshold: int = Field(200_000, ge=700)
    """With `tune_gc`: allocations between collections of the youngest generation (net of
    frees; see `app.tune_gc` for how the figure was chosen)."""
    auto_migrate: bool | None = None
    """Migrate on start; unset means yes on SQLite (embedded) and no elsewhere."""
    demo_data: bool | None = None
    """Load demo data on start; unset means yes on SQLite (embedded) and no elsewhere."""
    blob_dir: Path | None = None
    blob_s3_bucket: str = ""
    """Store blobs in this S3 bucket instead of `resolved_blob_dir`."""
    blob_s3_endpoint_url: str = ""
    """An S3-compatible endpoint (MinIO, Ceph, R2…); empty means AWS."""
    blob_s3_region: str = ""
    blob_s3_access_key_id: SecretStr | None = None
    """With the secret below; unset means boto3's own chain (environment, profile, IAM role)."""
    blob_s3_secret_access_key: SecretStr | None = None
    blob_s3_prefix: str = ""
    """Prepended to every blob key, so several deployments can share one bucket."""

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    login_attempts_per_minute: int = 10
    # argon2id cost; the defaults are RFC 9106's second recommended option (t=3, 64 MiB, p=4).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)

    simulate_trading: float = Field(default=0.0, ge=0.0, le=1000.0)
    """Bot actions a second on each trading venue served (`casebook serve --simulate`), from
    the matching engine's market simulator running inside the server; 0 is off."""

    trusted_country_header: str = "cf-ipcountry"
    messaging_vapid_private_key: SecretStr | None = None
    """Web Push VAPID key of the messaging engine (PEM), the same in every process; unset means
    one generated once and kept in `var_dir`."""

    smtp_host: str = "localhost"
    """Outgoing mail relay (platform/mail.py); with the four below, CASEBOOK_SMTP_*."""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    jobs_worker: bool = True
    """Run job workers in this process (Redis mode; embedded jobs always run in-process)."""
    jobs_concurrency: int = Field(default=10, ge=1)
    jobs_poll_interval: float = Field(default=0.1, gt=0)
    """Seconds between promotions of due delayed/retrying jobs on Redis."""
    jobs_retention_seconds: int = Field(default=24 * 3600, ge=1)
    bus_queue_size: int = Field(default=1000, ge=1)
    """Messages buffered per bus subscriber before it is dropped as too slow."""
    redis_max_connections: int = Field(default=200, ge=2)
    """Connections of the shared Redis client (cache, rate limits, bus); more concurrent commands
    wait for one (up to `redis_pool_timeout_seconds`) instead of failing."""
    redis_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"),
    )
    """prometheus-client's own variable (no CASEBOOK_ prefix): set it for several workers."""

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in `var_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'casebook.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def migrates_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def loads_demo_data(self) -> bool:
        return self.is_sqlite if self.demo_data is None else self.demo_data

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    @cached_property
    def signing_key(self) -> str:
        """The key that signs tokens: `CASEBOOK_SECRET_KEY`, else one kept in `var_dir`.

        Keeping a generated key on disk means tokens survive a restart of the embedded server
        without anyone having to configure a secret first.
        """
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    @property
    def uses_s3_blobs(self) -> bool:
        return bool(self.blob_s3_bucket)

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.var_dir / "blobs"
