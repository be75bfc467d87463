"""Named Amplitude environments (e.g. staging and production projects) in one file.

`msgmetrics.yml` in the project folder, or the file named by $MSGMETRICS_CONFIG:

    default_environment: staging
    environments:
      staging:
        region: us
        api_key_env: AMPLITUDE_STAGING_API_KEY      # the NAME of the variable holding the key
      production:
        region: eu
        api_key_env: AMPLITUDE_PRODUCTION_API_KEY
        secret_key_env: AMPLITUDE_PRODUCTION_SECRET_KEY
        app_id: 123456
        cohort_owner: data@example.com
        protected: true                              # pushing needs --allow-protected

Secrets never live in the file, only the names of the environment variables that hold
them. Without a file there is one environment, `default`, configured by AMPLITUDE_*.
The push ledger is kept per environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from .amplitude import AmplitudeConfig, AmplitudeConfigError
from .settings import PROJECT_DIR

DEFAULT = "default"
# environment file key -> the AMPLITUDE_* variable it stands for (values, not secrets)
_VALUE_KEYS = {"region": "AMPLITUDE_REGION", "ingest_url": "AMPLITUDE_INGEST_URL", "api_url": "AMPLITUDE_API_URL",
               "app_id": "AMPLITUDE_APP_ID", "cohort_owner": "AMPLITUDE_COHORT_OWNER",
               "min_id_length": "AMPLITUDE_MIN_ID_LENGTH"}
# environment file key naming a variable -> the AMPLITUDE_* secret it provides
_SECRET_KEYS = {"api_key_env": "AMPLITUDE_API_KEY", "secret_key_env": "AMPLITUDE_SECRET_KEY"}


class EnvironmentConfigError(AmplitudeConfigError):
    """A missing, unknown or protected environment."""


@dataclass(frozen=True)
class Environment:
    name: str
    protected: bool
    settings: dict  # the file's entry (no secrets)

    def amplitude_config(self, environ: Mapping[str, str] = os.environ) -> AmplitudeConfig:
        if not self.settings:  # the implicit default environment: AMPLITUDE_* as they are
            return AmplitudeConfig.from_env(environ)
        mapped = {k: v for k, v in environ.items() if k.startswith("AMPLITUDE_") and k not in
                  set(_VALUE_KEYS.values()) | set(_SECRET_KEYS.values())}  # tuning variables pass through
        for key, variable in _VALUE_KEYS.items():
            if self.settings.get(key) is not None:
                mapped[variable] = str(self.settings[key])
        for key, variable in _SECRET_KEYS.items():
            source = self.settings.get(key)
            if source:
                if not environ.get(source):
                    raise EnvironmentConfigError(f"environment '{self.name}' reads its {variable.lower()[10:]} from "
                                            f"${source}, which is not set")
                mapped[variable] = environ[source]
        return AmplitudeConfig.from_env(mapped)


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("MSGMETRICS_CONFIG") or PROJECT_DIR / "msgmetrics.yml")


def resolve(name: str | None = None, environ: Mapping[str, str] = os.environ) -> Environment:
    """The environment to push to: `name`, else $MSGMETRICS_ENVIRONMENT, else the file's default."""
    path = config_path(environ)
    name = name or environ.get("MSGMETRICS_ENVIRONMENT")
    if not path.exists():
        if name not in (None, DEFAULT):
            raise EnvironmentConfigError(f"no environment '{name}': {path} does not exist (see msgmetrics.example.yml)")
        return Environment(DEFAULT, protected=False, settings={})
    with open(path) as f:
        document = yaml.safe_load(f) or {}
    environments = document.get("environments") or {}
    name = name or document.get("default_environment")
    if not name:
        raise EnvironmentConfigError(f"{path}: name an environment with --env or set default_environment")
    if name not in environments:
        raise EnvironmentConfigError(f"{path} has no environment '{name}'; it has: {', '.join(sorted(environments))}")
    settings = environments[name] or {}
    unknown = set(settings) - set(_VALUE_KEYS) - set(_SECRET_KEYS) - {"protected"}
    if unknown:
        raise EnvironmentConfigError(f"{path}: environment '{name}' has unknown settings {sorted(unknown)}; "
                                "secrets go in environment variables named by api_key_env / secret_key_env")
    return Environment(name, protected=bool(settings.get("protected")), settings=settings)
