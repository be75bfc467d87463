"""Named environments: the ledger is per environment and protected ones need a flag."""

from __future__ import annotations

from conftest import query, run_cli
from msgmetrics.amplitude.fake_server import FakeAmplitude

STAGING_KEY, PRODUCTION_KEY = "staging-key-00000001", "production-key-000001"


def test_staging_never_marks_production_sent_and_production_is_protected(warehouse, tmp_path):
    with FakeAmplitude(api_key=STAGING_KEY) as staging, FakeAmplitude(api_key=PRODUCTION_KEY) as production:
        config = tmp_path / "msgmetrics.yml"
        config.write_text(f"""
default_environment: staging
environments:
  staging:
    region: us
    ingest_url: {staging.url}
    api_key_env: STAGING_AMPLITUDE_KEY
  production:
    region: us
    ingest_url: {production.url}
    api_key_env: PRODUCTION_AMPLITUDE_KEY
    protected: true
""")
        env = {"MSGMETRICS_CONFIG": str(config), "STAGING_AMPLITUDE_KEY": STAGING_KEY,
               "PRODUCTION_AMPLITUDE_KEY": PRODUCTION_KEY}
        expected = query(warehouse, "select count(*) from marts.fct_amplitude_events")[0][0]

        to_staging = run_cli(warehouse, "push", env=env)
        refused = run_cli(warehouse, "push", "--env", "production", check=False, env=env)
        looked = run_cli(warehouse, "push", "--env", "production", "--dry-run", env=env)
        to_production = run_cli(warehouse, "push", "--env", "production", "--allow-protected", env=env)
        again = run_cli(warehouse, "push", env=env)

        assert staging.event_count == expected and production.event_count == expected
    assert "environment 'staging'" in to_staging.stdout
    assert refused.returncode == 1 and "protected" in refused.stderr and production.event_count == expected
    assert f"would send {expected:,} events" in looked.stdout  # staging's ledger does not count for production
    assert "environment 'production'" in to_production.stdout
    assert "sent 0 events" in again.stdout
    assert query(warehouse, """
        select environment, count(*) from msgmetrics_ledger.amplitude_events_sent group by 1 order by 1""") == [
        ("production", expected), ("staging", expected)]
    assert STAGING_KEY not in to_staging.stdout + to_staging.stderr


def test_unknown_environment_and_missing_secret_are_clear_errors(warehouse, tmp_path):
    config = tmp_path / "msgmetrics.yml"
    config.write_text("environments:\n  staging:\n    api_key_env: NOT_SET_ANYWHERE\n")
    unknown = run_cli(warehouse, "push", "--env", "prod", check=False, env={"MSGMETRICS_CONFIG": str(config)})
    missing = run_cli(warehouse, "push", "--env", "staging", check=False, env={"MSGMETRICS_CONFIG": str(config)})
    assert unknown.returncode == 1 and "has no environment 'prod'" in unknown.stderr and "staging" in unknown.stderr
    assert missing.returncode == 1 and "$NOT_SET_ANYWHERE" in missing.stderr
