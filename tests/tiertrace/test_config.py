"""Settings read from TIERTRACE_* environment variables."""

from __future__ import annotations

import pytest

from tiertrace.config import DEFAULT_BASE_URL, Settings, database_url_from_env


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


def test_a_cookie_flag_that_is_no_boolean_is_refused(env):
    with pytest.raises(ValueError, match="not a boolean"):
        Settings.from_env({**env, "TIERTRACE_SECURE_COOKIES": "maybe"})


def test_the_database_url_is_read_without_creating_the_data_folder(tmp_path):
    data = tmp_path / "data"
    env = {"TIERTRACE_DATA_DIR": str(data)}
    assert database_url_from_env(env) == f"sqlite:///{data / 'tiertrace.sqlite3'}"
    assert database_url_from_env({**env, "TIERTRACE_DATABASE_URL": "sqlite:///x"}) == "sqlite:///x"
    assert not data.exists()


def test_the_settings_create_the_data_folder_and_keep_a_generated_secret_key(tmp_path):
    """What `serve`, `db upgrade`, `org create` and `demo` rely on in a fresh data folder."""
    env = {"TIERTRACE_DATA_DIR": str(tmp_path / "data")}
    settings = Settings.from_env(env)
    assert settings.database_url == database_url_from_env(env)
    assert (tmp_path / "data" / "secret_key").read_text() == settings.secret_key
    assert Settings.from_env(env).secret_key == settings.secret_key
