"""Tests of bot/settings.py: the one reader of the environment."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_use_an_sqlite_file_in_the_var_dir(tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)})
    assert settings.db_url == f"sqlite:///{tmp_path / 'shopbot.sqlite3'}"
    assert settings.im_secret is None and settings.agent_token is None


def test_today_can_be_pinned(tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_TODAY": "2026-12-03"})
    assert settings.today() == date(2026, 12, 3)


def test_bad_today_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SHOPBOT_TODAY"):
        load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_TODAY": "3.12.2026"})


def test_configured_secret_wins_and_is_not_in_repr(tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_JWT_SECRET": "s3cr3t"})
    assert settings.signing_secret() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)
    assert not (tmp_path / "dev_jwt_secret").exists()


def test_dev_secret_is_created_once_and_shared(tmp_path: Path) -> None:
    first = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).signing_secret()
    second = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).signing_secret()
    assert first == second and len(first) >= 32
    assert (tmp_path / "dev_jwt_secret").stat().st_mode & 0o077 == 0


def test_processes_starting_together_agree_on_the_dev_secret(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def secret(_: int) -> str:
        return load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).signing_secret()

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = set(pool.map(secret, range(32)))
    assert len(values) == 1 and len(values.pop()) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["dev_jwt_secret"]


def test_refund_limits_default_to_the_policy_and_can_be_set(tmp_path: Path) -> None:
    defaults = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).refund_limits
    assert (defaults.seller_answer_unshipped_days, defaults.seller_answer_days) == (2, 5)
    assert (defaults.buyer_ship_days, defaults.seller_confirm_days) == (7, 10)
    env = {"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_SELLER_CONFIRM_DAYS": "12"}
    assert load_settings(env).refund_limits.seller_confirm_days == 12


@pytest.mark.parametrize("value", ["0", "-1", "7.5", "x", "400"])
def test_bad_refund_limit_is_a_clear_error(tmp_path: Path, value: str) -> None:
    env = {"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_BUYER_SHIP_DAYS": value}
    with pytest.raises(SettingsError, match="SHOPBOT_BUYER_SHIP_DAYS"):
        load_settings(env)


def test_policy_file_can_be_set(tmp_path: Path) -> None:
    assert load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).policy_file is None
    env = {"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_POLICY_FILE": str(tmp_path / "p.yml")}
    assert load_settings(env).policy_file == tmp_path / "p.yml"


def test_now_is_aware_and_on_the_pinned_day(tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_TODAY": "2026-12-03"})
    moment = settings.now()
    assert moment.utcoffset() is not None and moment.date() == date(2026, 12, 3)


def test_cors_origins_are_a_normalised_list(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_CORS_ORIGINS": " https://Shop.example , http://127.0.0.1:8080/ ,",
        }
    )
    assert settings.cors_origins == ("https://shop.example", "http://127.0.0.1:8080")
    assert load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).cors_origins == ()


@pytest.mark.parametrize("value", ["*", "shop.example", "https://shop.example/page", "ftp://x"])
def test_a_cors_entry_that_is_not_an_origin_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="SHOPBOT_CORS_ORIGINS"):
        load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_CORS_ORIGINS": value})


def test_rate_limit_default_custom_and_off(tmp_path: Path) -> None:
    base = {"SHOPBOT_VAR_DIR": str(tmp_path)}
    default = load_settings(base)
    assert (default.rate_limit, default.rate_window_s) == (30, 60.0)
    custom = load_settings({**base, "SHOPBOT_RATE_LIMIT": "5/10"})
    assert (custom.rate_limit, custom.rate_window_s) == (5, 10.0)
    assert load_settings({**base, "SHOPBOT_RATE_LIMIT": "off"}).rate_limit == 0


@pytest.mark.parametrize("value", ["0/60", "many", "5/0", "-1/60", "5/x"])
def test_bad_rate_limit_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="SHOPBOT_RATE_LIMIT"):
        load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_RATE_LIMIT": value})


def test_im_channel_is_off_until_secret_and_callback_are_set(tmp_path: Path) -> None:
    base = {"SHOPBOT_VAR_DIR": str(tmp_path)}
    assert not load_settings(base).im_enabled
    assert not load_settings({**base, "SHOPBOT_IM_SECRET": "s"}).im_enabled
    on = load_settings(
        {
            **base,
            "SHOPBOT_IM_SECRET": "im-secret-value",
            "SHOPBOT_IM_CALLBACK_URL": "https://im.example/cb/",
        }
    )
    assert on.im_enabled and on.im_callback_url == "https://im.example/cb"
    assert "im-secret-value" not in repr(on)
    assert (on.im_worker_url, on.rasa_url) == ("http://127.0.0.1:5056", "http://127.0.0.1:5005")
    assert on.im_backoff == (1.0, 300.0)


def test_im_urls_and_backoff_can_be_set(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_IM_WORKER_URL": "http://10.0.0.2:7000",
            "SHOPBOT_RASA_URL": "http://10.0.0.3:5005/",
            "SHOPBOT_IM_BACKOFF": "0.5/60",
        }
    )
    assert settings.im_worker_url == "http://10.0.0.2:7000"
    assert settings.rasa_url == "http://10.0.0.3:5005"
    assert settings.im_backoff == (0.5, 60.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOPBOT_IM_CALLBACK_URL", "ftp://im.example"),
        ("SHOPBOT_IM_CALLBACK_URL", "im.example/cb"),
        ("SHOPBOT_IM_WORKER_URL", "localhost:5056"),
        ("SHOPBOT_IM_BACKOFF", "0/10"),
        ("SHOPBOT_IM_BACKOFF", "10/1"),
        ("SHOPBOT_IM_BACKOFF", "soon"),
    ],
)
def test_bad_im_settings_are_a_clear_error(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), variable: value})


def test_uploads_default_to_the_var_dir_and_five_mebibytes(tmp_path: Path) -> None:
    settings = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)})
    assert settings.upload_dir == tmp_path / "uploads"
    assert settings.upload_max_bytes == 5 * 1024 * 1024


def test_upload_folder_and_limit_can_be_set(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_UPLOAD_DIR": str(tmp_path / "photos"),
            "SHOPBOT_UPLOAD_MAX_BYTES": "2048",
        }
    )
    assert (settings.upload_dir, settings.upload_max_bytes) == (tmp_path / "photos", 2048)


@pytest.mark.parametrize("value", ["0", "-1", "5MB", str(50 * 1024 * 1024 + 1)])
def test_bad_upload_limit_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="SHOPBOT_UPLOAD_MAX_BYTES"):
        load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), "SHOPBOT_UPLOAD_MAX_BYTES": value})


def test_rabbitmq_defaults_are_this_machines_broker(tmp_path: Path) -> None:
    rabbitmq = load_settings({"SHOPBOT_VAR_DIR": str(tmp_path)}).rabbitmq
    assert (rabbitmq.host, rabbitmq.port, rabbitmq.user, rabbitmq.password) == (
        "127.0.0.1",
        5672,
        "guest",
        "guest",
    )
    assert rabbitmq.queue == "shopbot_events"


def test_rabbitmq_can_be_set_and_its_password_is_not_in_repr(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SHOPBOT_VAR_DIR": str(tmp_path),
            "SHOPBOT_RABBITMQ_HOST": "mq.internal",
            "SHOPBOT_RABBITMQ_PORT": "5673",
            "SHOPBOT_RABBITMQ_USER": "shopbot",
            "SHOPBOT_RABBITMQ_PASSWORD": "s3cret-mq-password",
            "SHOPBOT_EVENTS_QUEUE": "shop_a.events",
        }
    )
    rabbitmq = settings.rabbitmq
    assert (rabbitmq.host, rabbitmq.port, rabbitmq.user) == ("mq.internal", 5673, "shopbot")
    assert (rabbitmq.password, rabbitmq.queue) == ("s3cret-mq-password", "shop_a.events")
    assert "s3cret-mq-password" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOPBOT_RABBITMQ_PORT", "0"),
        ("SHOPBOT_RABBITMQ_PORT", "65536"),
        ("SHOPBOT_RABBITMQ_PORT", "amqp"),
        ("SHOPBOT_EVENTS_QUEUE", "amq.reserved"),
        ("SHOPBOT_EVENTS_QUEUE", "q" * 256),
        ("SHOPBOT_EVENTS_QUEUE", "bad\nname"),
    ],
)
def test_bad_rabbitmq_settings_are_a_clear_error(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({"SHOPBOT_VAR_DIR": str(tmp_path), variable: value})
