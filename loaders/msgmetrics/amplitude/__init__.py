"""Amplitude ingestion: a thin synchronous client and value coercion.

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
from .jsonsafe import event_time_ms, to_json_safe

__all__ = [
    "HOSTS",
    "AmplitudeAuthError",
    "AmplitudeClient",
    "AmplitudeConfig",
    "AmplitudeConfigError",
    "AmplitudeError",
    "AmplitudeForbiddenError",
    "AmplitudeUnavailableError",
    "SendReport",
    "event_time_ms",
    "to_json_safe",
]
