"""Service configuration: LDNCDS_* environment variables, optionally a config file (LDNCDS_CONFIG)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ldncds.engine import default_rules_dir


class TrustedIssuer(BaseModel):
    """A CDS client allowed to call us: its `iss` and where its public keys are."""

    iss: str
    jwks_url: str | None = None
    jwks_urls: list[str] = Field(
        default_factory=list,
        description="More registered JWKS URLs (`jku`) of this issuer, e.g. one per tenant.",
    )
    jwks: dict | None = Field(
        default=None,
        description="Inline JWK Set: its keys satisfy a token whose `jku` is registered, without a fetch.",
    )
    algorithms: list[str] = Field(default_factory=lambda: ["ES384", "RS384"])
    tenants: list[str] = Field(
        default_factory=list,
        description="When set, the `tenant` claim is required and must be one of these.",
    )
    may_audit: bool = Field(
        default=False,
        description="Tokens of this issuer carrying `audit_scope` may read every tenant's records.",
    )

    @property
    def registered_jkus(self) -> list[str]:
        return [u for u in [self.jwks_url, *self.jwks_urls] if u]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LDNCDS_", env_nested_delimiter="__", extra="ignore")

    rules_dir: Path = Field(
        default_factory=default_rules_dir, description="Folder of the rules (YAML + value sets)."
    )
    data_dir: Path = Field(
        default=Path("data"), description="Where the default SQLite log and link key live."
    )
    database_url: str | None = Field(
        default=None, description="Decision log URL. Default: SQLite file in data_dir."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Our URL as the EHR sees it (JWT aud)."
    )
    host: str = Field(default="127.0.0.1", description="Address `ldncds serve` binds to.")
    port: int = Field(default=8000, description="Port `ldncds serve` binds to.")
    workers: int = Field(default=1, description="Server processes `ldncds serve` starts.")
    insecure: bool = Field(
        default=False, description="Accept calls without a JWT (development only; refused on a public bind)."
    )
    trusted_issuers: list[TrustedIssuer] = Field(
        default_factory=list,
        description="CDS clients allowed to call (iss, JWKS URL(s), algorithms, tenants).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed by CORS (empty: no CORS layer)."
    )
    jwt_leeway_seconds: int = Field(default=60, description="Clock skew tolerated on a JWT's exp/iat/nbf.")
    fhir_timeout_seconds: float = Field(default=5.0, description="Timeout of one FHIR or JWKS HTTP request.")
    log_level: str = Field(
        default="INFO", description="Log level of the JSON logs (DEBUG, INFO, WARNING ...)."
    )
    engine_processes: int | None = Field(
        default=None,
        ge=0,
        description="Engine worker processes per server process (default: CPUs / workers); "
        "0 evaluates in the server process.",
    )
    engine_timeout_seconds: float = Field(
        default=30.0, gt=0, description="An evaluation taking longer is stopped."
    )

    # --- decision log writes (issue 15)
    store_group_commit_max: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Concurrent decision-log writes of one server process that may share one "
        "transaction and its COMMIT (group commit); each still returns only after that COMMIT, and a "
        "failed group fails every write in it. 1: every write commits alone.",
    )
    store_group_commit_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="With group commit on and the engine in the server process (engine_processes 0): "
        "how long the first write of a group waits for others to join (ms). 0: a group is whatever "
        "queued while the previous one committed, which is how the decision writer of the engine-worker "
        "path always groups.",
    )
    # --- FHIR fetching (issue 12/13)
    fhir_server_allowlist: list[str] = Field(
        default_factory=list,
        description="FHIR base URLs (prefixes) the service may fetch from with a hook's token. Empty: "
        "never fetch (prefetch only). '*' allows any https server except loopback, link-local and "
        "private addresses, which are fetched from only when listed explicitly.",
    )
    fhir_fetch_deadline_seconds: float = Field(
        default=10.0, gt=0, description="Total time for all FHIR fetches of one request (pages included)."
    )
    fhir_max_response_bytes: int = Field(
        default=20_000_000, ge=1024, description="Largest FHIR response read; a larger one is refused."
    )
    fhir_max_pages: int = Field(default=50, ge=1, description="Search pages followed per prefetch key.")
    fhir_validation: Literal["lean", "full"] = Field(
        default="lean",
        description="How FHIR resources are validated before they are read. `lean`: lean models of the "
        "elements ldncds reads (the same FHIR type rules); a resource they cannot vouch for is validated "
        "in full, so both accept the same records. `full`: every resource with fhir.resources R4B. "
        "Read once per process.",
    )
    # --- Deployment behind a proxy, CORS for browser clients (issue 14) ----------------------------
    root_path: str = Field(
        default="",
        description="Path prefix the reverse proxy serves us under (e.g. /ldncds), without a trailing slash.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated IPs, or *).",
    )
    cors_headers: list[str] = Field(
        # What CDS clients and tracing libraries commonly send.
        default_factory=lambda: [
            "Authorization",
            "Content-Type",
            "Accept",
            "Accept-Language",
            "Cache-Control",
            "X-Request-ID",
            "X-Correlation-ID",
            "X-Requested-With",
            "traceparent",
            "tracestate",
        ],  # fmt: skip
        description="Request headers a browser page may send (the CORS preflight's allow list).",
    )
    cors_private_network: bool = Field(
        default=False,
        description="Answer Chrome's Private Network Access preflight (a public page calling this "
        "service on a private or loopback address, e.g. the hosted CDS Hooks sandbox).",
    )
    # --- security, tenancy and limits (issue 13; SECURITY.md explains each) ---------------------
    jwt_max_lifetime_seconds: int = Field(
        default=300, ge=1, description="exp - iat may not exceed this (plus the leeway)."
    )
    jwt_audiences: list[str] = Field(
        default_factory=list,
        description="Accepted `aud` values; default: the endpoint's URL and public_base_url.",
    )
    audit_scope: str = Field(
        default="ldncds/audit", description="Scope that lets a `may_audit` issuer read every tenant."
    )
    link_token_key: SecretStr | None = Field(
        default=None, description="HMAC key of card links; default: generated into data_dir."
    )
    link_token_seconds: int = Field(default=1800, ge=1, description="Lifetime of a card's page link.")
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token /metrics requires when JWT is on (unset: /metrics off)."
    )
    docs_enabled: bool = Field(default=True, description="Serve /docs and /openapi.json.")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Larger request bodies: 413.")
    max_json_depth: int = Field(default=64, ge=4, description="Deeper JSON request bodies are refused.")
    max_json_values: int = Field(
        default=250_000, ge=100, description="JSON values (objects, arrays, scalars) per request body."
    )
    max_resources: int = Field(default=10_000, ge=1, description="FHIR resources per request body.")
    site_timezone: str = Field(
        default="UTC",
        description="IANA time zone of the site's calendar: 'today', and the day of every timed FHIR "
        "record (e.g. America/Chicago).",
    )
    evaluation_past_days: int = Field(
        default=3660, ge=0, description="An evaluation date may lie this many days before today."
    )
    evaluation_future_days: int = Field(
        default=366, ge=0, description="An evaluation date may lie this many days after today."
    )
    max_age_years: int = Field(
        default=130, ge=1, description="A birth date further back than this is refused as implausible."
    )
    # --- end of security block -----------------------------------------------------------------

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def today(self, now: datetime | None = None) -> date:
        """'Today' for an evaluation: the calendar date in `site_timezone` (default: this instant)."""
        return (now or datetime.now(UTC)).astimezone(ZoneInfo(self.site_timezone)).date()

    @property
    def engine_process_count(self) -> int:
        """engine_processes (0: in the server process), or the CPUs shared between the server processes."""
        if self.engine_processes is not None:
            return self.engine_processes
        return max(1, (os.cpu_count() or 1) // max(1, self.workers))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ldncds.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("LDNCDS_CONFIG")
        if config:
            from pydantic_settings import JsonConfigSettingsSource, TomlConfigSettingsSource

            path = Path(config)
            source_cls = TomlConfigSettingsSource if path.suffix == ".toml" else JsonConfigSettingsSource
            sources.append(source_cls(settings_cls, path))
        return tuple(sources)


def configuration_markdown() -> str:
    """docs/configuration.md: every setting, its environment variable, default and meaning."""
    lines = [
        "# Configuration",
        "",
        "Generated from `ldncds.settings.Settings` by `ldncds config docs`; do not edit by hand",
        "(tests/project/test_settings_docs.py fails when this file and Settings disagree).",
        "",
        "Every setting is read from an environment variable, or from the JSON/TOML file named by",
        "`LDNCDS_CONFIG` (keys are the setting names). Nested values (lists, trusted issuers) are JSON.",
        "",
        "| Setting | Environment variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        lines.append(
            f"| `{name}` | `LDNCDS_{name.upper()}` | {_default_of(name)} | {_cell(field.description)} |"
        )
    return "\n".join(lines) + "\n"


def _default_of(name: str) -> str:
    field = Settings.model_fields[name]
    if name == "rules_dir":
        return "the `rules/` folder of this checkout or package"  # an absolute, machine-specific path
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    return f"`{value}`" if isinstance(value, Path) else f"`{value!r}`"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")
