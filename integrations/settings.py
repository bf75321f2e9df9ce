"""Settings of the integrations: which packages load, where each HTTP service is reached."""

from __future__ import annotations

from pydantic import BaseModel, Field

from integrations.egress import EgressSettings


class EndpointSettings(BaseModel):
    """Where one HTTP service is reached (tests and on-premise deployments override the URL)."""

    base_url: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    token_url: str | None = Field(
        default=None, description="an OAuth provider's token endpoint, where it is not the default"
    )


class IntegrationSettings(BaseModel):
    """Which integration packages a worker loads, and where their services are reached."""

    extra_modules: list[str] = Field(
        default_factory=list,
        description="module paths whose import registers integrations, seed-style "
        '(JSON list, e.g. ["mycompany.integrations.crm"]); entry points in the '
        "'actionstream.integrations' group are loaded too",
    )
    endpoints: dict[str, EndpointSettings] = Field(
        default_factory=dict,
        description="per-service overrides by service name, e.g. "
        "ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL=http://127.0.0.1:8080/v1",
    )
    max_connections: int = Field(default=512, ge=1)
    egress: EgressSettings = EgressSettings()
