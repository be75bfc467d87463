"""Amplitude: thin synchronous clients for ingestion and Behavioral Cohorts, and value coercion.

The strict fake server for tests and the demo is ``msgmetrics.amplitude.fake_server.FakeAmplitude``
(not imported here, so ``python -m msgmetrics.amplitude.fake_server`` runs cleanly).
"""

from .client import (
    HOSTS,
    AmplitudeAuthError,
    AmplitudeClient,
    AmplitudeConfig,
    AmplitudeConfigError,
    AmplitudeError,
    AmplitudeForbiddenError,
    AmplitudeUnavailableError,
    SendReport,
)
from .cohorts import (
    AmplitudeCohortNotFoundError,
    AmplitudeCohortsClient,
    CohortUploadResult,
    MembershipResult,
)
from .jsonsafe import event_time_ms, to_json_safe

__all__ = [
    "HOSTS",
    "AmplitudeAuthError",
    "AmplitudeClient",
    "AmplitudeCohortNotFoundError",
    "AmplitudeCohortsClient",
    "AmplitudeConfig",
    "AmplitudeConfigError",
    "AmplitudeError",
    "AmplitudeForbiddenError",
    "AmplitudeUnavailableError",
    "CohortUploadResult",
    "MembershipResult",
    "SendReport",
    "event_time_ms",
    "to_json_safe",
]
