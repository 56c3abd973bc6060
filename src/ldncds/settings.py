"""Service configuration: LDNCDS_* environment variables, optionally a config file (LDNCDS_CONFIG)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .engine.assess import default_rules_dir


class TrustedIssuer(BaseModel):
    """A CDS client allowed to call us: its `iss` and where its public keys are."""

    iss: str
    jwks_url: str | None = None
    jwks: dict | None = Field(default=None, description="Inline JWK Set (for tests and air-gapped sites).")
    algorithms: list[str] = Field(default_factory=lambda: ["ES384", "RS384"])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LDNCDS_", env_nested_delimiter="__", extra="ignore")

    rules_dir: Path = Field(default_factory=default_rules_dir)
    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, description="Default: SQLite file in data_dir.")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Our URL as the EHR sees it (JWT aud)."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    insecure: bool = False
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    jwt_leeway_seconds: int = 60
    fhir_timeout_seconds: float = 5.0
    log_level: str = "INFO"

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
