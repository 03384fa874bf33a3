"""Settings file: remapped bindings take effect; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import parse_options
from app.launch import LaunchOptions
from app.main import DistillerApp
from app.settings import CONFIG_ENV, SettingsError, load_settings


def test_settings_file_is_found_through_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "theme: nord\n"
        "server: {url: 'http://127.0.0.1:9999', api_key: k}\n"
        "audio: {input_device: 2, output_device: speakers}\n"
        "bindings: {focus.input: f6}\n"
    )
    monkeypatch.setenv(CONFIG_ENV, str(path))
    settings = load_settings()
    assert settings.theme == "nord"
    assert settings.server_url == "http://127.0.0.1:9999"
    assert settings.input_device == 2 and settings.output_device == "speakers"
    assert settings.keymap == {"focus.input": "f6"}
    options, _ = parse_options([])
    assert options.server_url == "http://127.0.0.1:9999" and options.api_key == "k"


def test_bad_values_name_their_key(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("bindings: {focus.input: 3}\n")
    with pytest.raises(SettingsError, match=r"bindings\.focus\.input"):
        load_settings(path)
    path.write_text("colour: red\n")
    with pytest.raises(SettingsError, match=r"unknown key.*colour"):
        load_settings(path)


def test_unknown_binding_id_is_refused_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("bindings: {session.skip: s}\n")
    with pytest.raises(SystemExit):
        parse_options(["--config", str(path)])
    assert "unknown binding id(s) session.skip" in capsys.readouterr().err


def test_cli_rejects_bad_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(["--project", "has space"])
    assert "--project 'has space' may contain only" in capsys.readouterr().err


async def test_a_remapped_binding_works_under_its_new_key(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("bindings: {focus.input: f6}\n")
    app = DistillerApp(LaunchOptions(offline=True, uuid="keys"), load_settings(path))
    async with app.run_test() as pilot:
        app.browser.tree.focus()
        await pilot.press("ctrl+l")  # the default key no longer does it
        assert app.focused is app.browser.tree
        await pilot.press("f6")
        assert app.focused is app.input_bar.input


def test_echo_cancellation_is_on_unless_the_flag_or_the_settings_turn_it_off(
    tmp_path: Path,
) -> None:
    config = tmp_path / "settings.yaml"
    _, settings = parse_options(["--config", str(config)])
    assert settings.echo_cancellation is True  # type: ignore[attr-defined]
    _, settings = parse_options(["--config", str(config), "--no-aec"])
    assert settings.echo_cancellation is False  # type: ignore[attr-defined]
    config.write_text("audio: {echo_cancellation: false}\n")
    _, settings = parse_options(["--config", str(config)])
    assert settings.echo_cancellation is False  # type: ignore[attr-defined]
    config.write_text("audio: {echo_cancellation: maybe}\n")
    with pytest.raises(SettingsError, match=r"audio\.echo_cancellation"):
        load_settings(config)
