"""Settings: read once from FLASK_* variables at start-up, typed, range-checked, each default written once, documented."""
import logging
import re
from pathlib import Path

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app
from clinic.production import ConfigError
from tests.conftest import TEST_SECRET, migrated_database

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "content"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "clinic.example", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A host's environment: every FLASK_ variable of the test runner removed, then the basics set."""
    import os

    for name in list(os.environ):
        if name.startswith("FLASK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLASK_DATABASE", str(migrated_database(tmp_path / "clinic.sqlite3")))
    monkeypatch.setenv("FLASK_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("FLASK_CONTENT_DIR", str(FIXTURE_CONTENT))
    monkeypatch.setenv("FLASK_SECRET_KEY", TEST_SECRET)
    return monkeypatch


def build():
    return create_app({"TESTING": True})


# --- finding 5: FLASK_PROXY_FIX=no switched the proxy fix on ---------------------------


@pytest.mark.parametrize("value", ["no", "No", "false", "FALSE", "0", "off", "Off", " no "])
def test_proxy_fix_no_means_off(env, value):
    env.setenv("FLASK_PROXY_FIX", value)
    app = build()
    assert app.config["PROXY_FIX"] is False
    assert not isinstance(app.wsgi_app, ProxyFix)
    response = app.test_client().get("/healthz", headers=FORWARDED)
    assert "Strict-Transport-Security" not in response.headers  # the forwarded https is not believed


@pytest.mark.parametrize("value", ["yes", "YES", "true", "True", "1", "on", "ON"])
def test_proxy_fix_yes_means_on(env, value):
    env.setenv("FLASK_PROXY_FIX", value)
    app = build()
    assert app.config["PROXY_FIX"] is True
    assert "Strict-Transport-Security" in app.test_client().get("/healthz", headers=FORWARDED).headers


@pytest.mark.parametrize("value", ["maybe", "2", "", "y", "enabled", "[]"])
def test_a_yes_no_setting_refuses_anything_else_naming_the_variable(env, value):
    env.setenv("FLASK_PROXY_FIX", value)
    with pytest.raises(ConfigError, match=r"FLASK_PROXY_FIX: .*true/false, 1/0, yes/no or on/off"):
        build()


def test_every_yes_no_setting_reads_the_same_words(env):
    from clinic.settings import Settings

    flags = [name for name, field in Settings.model_fields.items() if field.annotation is bool]
    assert "PROXY_FIX" in flags and "OUTBOX_AUTOSEND" in flags and "SMTP_STARTTLS" in flags
    for name in flags:
        env.setenv(f"FLASK_{name}", "off")
    settings = Settings.from_sources(__import__("os").environ)
    assert all(getattr(settings, name) is False for name in flags)


# --- finding 6: an all-digit FLASK_SECRET_KEY was read as a number ---------------------


def test_an_all_digit_secret_key_stays_text_and_the_site_works_in_production(env):
    key = "1234567890" * 4
    env.setenv("FLASK_SECRET_KEY", key)
    env.setenv("FLASK_PRODUCTION", "1")
    app = build()
    assert app.config["SECRET_KEY"] == key
    client = app.test_client()
    assert client.get("/", base_url="https://localhost").status_code == 200
    assert client.get("/request", base_url="https://localhost").status_code == 200


def test_every_text_setting_stays_text_from_the_environment(env):
    env.setenv("FLASK_HEALTHZ_TOKEN", "12345678901234567890123456789012")
    env.setenv("FLASK_SMTP_PASSWORD", "1234")
    env.setenv("FLASK_SMTP_USER", "true")
    app = build()
    assert app.config["HEALTHZ_TOKEN"] == "12345678901234567890123456789012"
    assert app.config["SMTP_PASSWORD"] == "1234"
    assert app.config["SMTP_USER"] == "true"


def test_a_secret_key_that_is_not_text_is_refused_from_python_too(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"TESTING": True, "SECRET_KEY": 1234567890 ** 4, "DATABASE": str(tmp_path / "c.sqlite3")})


# --- numbers: typed and range-checked -------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("FLASK_SMTP_PORT", "70000"), ("FLASK_SMTP_PORT", "0"), ("FLASK_SMTP_PORT", "smtp"),
    ("FLASK_JOURNEY_KEEP_DAYS", "0"), ("FLASK_JOURNEY_KEEP_DAYS", "7.5"), ("FLASK_OUTBOX_MAX_ATTEMPTS", "-1"),
    ("FLASK_STAFF_SESSION_IDLE_SECONDS", "5"), ("FLASK_DATABASE_BUSY_TIMEOUT_MS", "1e9"),
])
def test_a_number_out_of_range_or_not_a_number_is_refused_naming_the_variable(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"{name}: "):
        build()


def test_numbers_from_the_environment_arrive_as_numbers(env):
    env.setenv("FLASK_SMTP_PORT", "2525")
    env.setenv("FLASK_SMTP_TIMEOUT", "2.5")
    env.setenv("FLASK_JOURNEY_KEEP_DAYS", " 14 ")
    app = build()
    assert app.config["SMTP_PORT"] == 2525
    assert app.config["SMTP_TIMEOUT"] == 2.5
    assert app.config["JOURNEY_KEEP_DAYS"] == 14


def test_a_lease_shorter_than_the_smtp_timeout_is_refused(env):
    env.setenv("FLASK_SMTP_TIMEOUT", "30")
    env.setenv("FLASK_OUTBOX_LEASE_SECONDS", "10")
    with pytest.raises(ConfigError, match="FLASK_OUTBOX_LEASE_SECONDS"):
        build()


def test_a_bad_rate_limit_is_refused_at_start_up(env):
    env.setenv("FLASK_REQUEST_RATE_LIMIT", "five a minute")
    with pytest.raises(ConfigError, match="FLASK_REQUEST_RATE_LIMIT"):
        build()


def test_lists_are_comma_separated(env):
    env.setenv("FLASK_TRUSTED_HOSTS", "clinic.example, www.clinic.example")
    env.setenv("FLASK_STAFF_EMAILS", "a@clinic.example, b@clinic.example")
    app = build()
    assert app.config["TRUSTED_HOSTS"] == ["clinic.example", "www.clinic.example"]
    assert list(app.config["STAFF_EMAILS"]) == ["a@clinic.example", "b@clinic.example"]


def test_argon2_costs_are_json(env):
    env.setenv("FLASK_STAFF_ARGON2", '{"time_cost": 1, "memory_cost": 8192, "parallelism": 1}')
    assert build().config["STAFF_ARGON2"] == {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}
    env.setenv("FLASK_STAFF_ARGON2", "cheap")
    with pytest.raises(ConfigError, match="FLASK_STAFF_ARGON2"):
        build()


def test_without_argon2_costs_staff_passwords_are_hashed_at_the_librarys_full_cost(env):
    """The one check of production's cost: every other test hashes cheaply (tests/support/staff.py FAST_ARGON2)."""
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY

    hasher = build().extensions["staff_hasher"]
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost, RFC_9106_LOW_MEMORY.memory_cost, RFC_9106_LOW_MEMORY.parallelism)
    assert PasswordHasher().memory_cost == hasher.memory_cost >= 65536 and hasher.time_cost >= 3
    assert f"m={hasher.memory_cost},t={hasher.time_cost}" in hasher.hash("correct horse battery")


# --- overrides from Python (tests, scripts) ------------------------------------------------


def test_python_overrides_win_over_the_environment_and_are_checked_alike(env, tmp_path):
    env.setenv("FLASK_JOURNEY_KEEP_DAYS", "3")
    assert create_app({"TESTING": True, "JOURNEY_KEEP_DAYS": 9}).config["JOURNEY_KEEP_DAYS"] == 9
    with pytest.raises(ConfigError, match=r"JOURNEY_KEEP_DAYS \(create_app\): "):
        create_app({"TESTING": True, "JOURNEY_KEEP_DAYS": 0})


def test_flask_and_test_only_keys_pass_through(env):
    clock = lambda: 1_800_000_000  # noqa: E731
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "STAFF_CLOCK": clock})
    assert app.config["WTF_CSRF_ENABLED"] is False and app.config["STAFF_CLOCK"] is clock


# --- a FLASK_ variable that is not a setting ---------------------------------------------


def test_a_misspelled_setting_is_warned_about_at_start_up(env, caplog):
    env.setenv("FLASK_PROXYFIX", "1")
    env.setenv("FLASK_SMTP_HOTS", "mail.example")
    with caplog.at_level(logging.WARNING):
        app = build()
    assert app.config["PROXY_FIX"] is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("FLASK_PROXYFIX" in w and "did you mean FLASK_PROXY_FIX" in w for w in warnings), warnings
    assert any("FLASK_SMTP_HOTS" in w and "did you mean FLASK_SMTP_HOST" in w for w in warnings), warnings


def test_flasks_own_variables_are_not_warned_about(env, caplog):
    env.setenv("FLASK_APP", "app")
    env.setenv("FLASK_RUN_PORT", "5001")
    with caplog.at_level(logging.WARNING):
        build()
    assert not [r for r in caplog.records if "FLASK_APP" in r.getMessage() or "FLASK_RUN_PORT" in r.getMessage()]


# --- one place for defaults, and README tells the truth about them -------------------------


def _readme_settings_rows():
    """{FLASK_NAME: default cell} from every table row in README.md that names settings in its first cell."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.startswith("|"):
            continue
        for name in re.findall(r"`(FLASK_[A-Z0-9_]+)`", cells[0]):
            rows[name] = cells[1]
    return rows


def test_every_setting_is_in_a_readme_table_and_every_row_is_a_setting():
    from clinic.settings import Settings

    documented = set(_readme_settings_rows())
    declared = {f"FLASK_{name}" for name in Settings.model_fields}
    assert declared - documented == set(), "settings missing from README's tables"
    assert documented - declared == set(), "README documents settings that do not exist"


def test_readme_defaults_match_the_settings_object():
    from clinic.settings import Settings, documented_default

    rows = _readme_settings_rows()
    wrong = {f"FLASK_{name}": (rows[f"FLASK_{name}"], documented_default(name)) for name in Settings.model_fields
             if rows.get(f"FLASK_{name}") != documented_default(name)}
    assert wrong == {}, "README default differs from clinic/settings.py: {name: (readme, settings)}"


def test_the_deploy_guide_names_only_real_settings():
    from clinic.settings import Settings

    named = set(re.findall(r"\bFLASK_([A-Z0-9_]+)", (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")))
    named |= set(re.findall(r"^FLASK_([A-Z0-9_]+)=", (ROOT / "deploy" / "fbss-journey.env.example").read_text(), re.M))
    assert named - set(Settings.model_fields) - {"DEBUG"} == set()


def test_no_default_is_written_outside_the_settings_module():
    """app.py and the blueprints read defaults from clinic/settings.py, never a second copy."""
    for path in [ROOT / "app.py", *sorted((ROOT / "blueprints").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        assert "DEFAULTS" not in text and "setdefault(" not in text, path.name
