"""Settings read from TIERTRACE_* environment variables."""

from __future__ import annotations

import pytest

from tiertrace.config import DEFAULT_BASE_URL, ConfigurationError, Settings, database_url_from_env


@pytest.fixture
def env(tmp_path):
    return {
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_DATABASE_URL": "sqlite:///x.sqlite3",
        "TIERTRACE_SECRET_KEY": "s",
    }


def test_the_portal_address_and_the_cookie_flag_default_to_the_embedded_local_mode(env):
    settings = Settings.from_env(env)
    assert (settings.base_url, settings.secure_cookies) == (DEFAULT_BASE_URL, None)
    assert Settings.from_env({**env, "TIERTRACE_BASE_URL": "", "TIERTRACE_SECURE_COOKIES": ""}) == settings


@pytest.mark.parametrize(("text", "secure"), [("true", True), (" On ", True), ("1", True), ("false", False)])
def test_the_portal_address_and_the_cookie_flag_come_from_the_environment(env, text, secure):
    settings = Settings.from_env(
        {**env, "TIERTRACE_BASE_URL": "https://tiertrace.example", "TIERTRACE_SECURE_COOKIES": text}
    )
    assert (settings.base_url, settings.secure_cookies) == ("https://tiertrace.example", secure)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("TIERTRACE_SECURE_COOKIES", "maybe", "TIERTRACE_SECURE_COOKIES must be true or false, not 'maybe'"),
        ("TIERTRACE_TIER_MARGIN_DAYS", "7.5", "TIERTRACE_TIER_MARGIN_DAYS must be a whole number of days"),
        # Negative days gave requests due dates in the past; a negative or NaN pause made the sweep spin.
        ("TIERTRACE_TIER_MARGIN_DAYS", "-1", "TIERTRACE_TIER_MARGIN_DAYS must be a whole number of days"),
        ("TIERTRACE_DEFAULT_DUE_DAYS", "-42", "TIERTRACE_DEFAULT_DUE_DAYS must be a whole number of days"),
        (
            "TIERTRACE_ESCALATION_GRACE_DAYS",
            "-3",
            "TIERTRACE_ESCALATION_GRACE_DAYS must be a whole number of days",
        ),
        (
            "TIERTRACE_OVERDUE_SWEEP_SECONDS",
            "5m",
            "TIERTRACE_OVERDUE_SWEEP_SECONDS must be a number of seconds",
        ),
        (
            "TIERTRACE_OVERDUE_SWEEP_SECONDS",
            "-1",
            "TIERTRACE_OVERDUE_SWEEP_SECONDS must be a number of seconds",
        ),
        (
            "TIERTRACE_OVERDUE_SWEEP_SECONDS",
            "nan",
            "TIERTRACE_OVERDUE_SWEEP_SECONDS must be a number of seconds",
        ),
        (
            "TIERTRACE_OVERDUE_SWEEP_SECONDS",
            "inf",
            "TIERTRACE_OVERDUE_SWEEP_SECONDS must be a number of seconds",
        ),
        # pika took http://host:5672/ and reached the broker's default vhost as guest.
        (
            "TIERTRACE_AMQP_URL",
            "http://localhost:5672/",
            "TIERTRACE_AMQP_URL must be an amqp:// or amqps:// URL",
        ),
        (
            "TIERTRACE_AMQP_URL",
            "postgresql://x@h/db",
            "TIERTRACE_AMQP_URL must be an amqp:// or amqps:// URL",
        ),
        (
            "TIERTRACE_WEBHOOK_ALLOW_PRIVATE",
            "perhaps",
            "TIERTRACE_WEBHOOK_ALLOW_PRIVATE must be true or false",
        ),
        ("TIERTRACE_TRUSTED_PROXIES", "-1", "TIERTRACE_TRUSTED_PROXIES must be a whole number (0 or more)"),
        ("TIERTRACE_TRUSTED_PROXIES", "yes", "TIERTRACE_TRUSTED_PROXIES must be a whole number (0 or more)"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_name_before_anything_is_created(
    tmp_path, name, text, message
):
    data = tmp_path / "data"
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"TIERTRACE_DATA_DIR": str(data), name: text})
    assert str(refused.value).startswith(message)
    assert not data.exists()


def test_an_empty_variable_means_its_default(env):
    settings = Settings.from_env({**env, "TIERTRACE_TIER_MARGIN_DAYS": "", "TIERTRACE_SECURE_COOKIES": " "})
    assert (settings.tier_margin_days, settings.secure_cookies) == (Settings.tier_margin_days, None)


def test_the_database_url_is_read_without_creating_the_data_folder(tmp_path):
    data = tmp_path / "data"
    env = {"TIERTRACE_DATA_DIR": str(data)}
    assert database_url_from_env(env) == f"sqlite:///{data / 'tiertrace.sqlite3'}"
    assert database_url_from_env({**env, "TIERTRACE_DATABASE_URL": "sqlite:///x"}) == "sqlite:///x"
    assert not data.exists()


def test_the_settings_create_the_data_folder_and_keep_a_generated_secret_key(tmp_path):
    """What `serve` and `demo` rely on in a fresh data folder (the web sessions need a lasting key)."""
    env = {"TIERTRACE_DATA_DIR": str(tmp_path / "data")}
    settings = Settings.from_env(env)
    assert settings.database_url == database_url_from_env(env)
    assert (tmp_path / "data" / "secret_key").read_text() == settings.secret_key
    assert Settings.from_env(env).secret_key == settings.secret_key


def test_settings_for_a_process_without_web_sessions_make_up_no_secret_key(tmp_path):
    """What the worker uses: before, every process got a generated key file it never needed."""
    data = tmp_path / "data"
    env = {"TIERTRACE_DATA_DIR": str(data), "TIERTRACE_DATABASE_URL": "postgresql://db.internal/tiertrace"}
    assert Settings.from_env(env, sessions=False).secret_key == ""
    assert not data.exists()
    # Without a database URL the data folder holds the SQLite file, but still no key.
    env = {"TIERTRACE_DATA_DIR": str(data)}
    assert Settings.from_env(env, sessions=False).secret_key == ""
    assert list(data.iterdir()) == []
    assert Settings.from_env({**env, "TIERTRACE_SECRET_KEY": "k"}, sessions=False).secret_key == "k"


def test_webhooks_to_private_addresses_are_off_unless_the_operator_allows_them(env):
    assert Settings.from_env(env).webhook_allow_private is False
    assert Settings.from_env({**env, "TIERTRACE_WEBHOOK_ALLOW_PRIVATE": "true"}).webhook_allow_private is True


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:5672/%2F", "amqps://u:p@broker.example/tt"])
def test_an_amqp_url_is_taken_as_given(env, url):
    assert Settings.from_env({**env, "TIERTRACE_AMQP_URL": url}).amqp_url == url


def test_no_proxy_is_trusted_unless_the_operator_says_how_many(env):
    assert Settings.from_env(env).trusted_proxies == 0
    assert Settings.from_env({**env, "TIERTRACE_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
