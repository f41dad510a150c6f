"""The command line, and `serve` as a real process (what `make run` does)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from leadbase import logs, schema
from leadbase.cli import app
from leadbase.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LEADBASE_DATABASE_URL", url)
    get_settings.cache_clear()
    return url


def test_db_commands(cli_db: str) -> None:
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0 and "base" in result.output

    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"at revision {schema.head_revision()}" in result.output

    result = runner.invoke(app, ["db", "current"])
    assert "(head)" in result.output

    result = runner.invoke(app, ["db", "downgrade", "base"])
    assert result.exit_code == 0 and "base" in result.output


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == "0.1.0"
    result = runner.invoke(app, ["--help"])
    for command in ("serve", "db", "audit", "backup", "restore"):
        assert command in result.output


def test_lazy_commands_list_their_own_help() -> None:
    """The help `leadbase --help` lists of a command it does not import is
    the command's own."""
    from leadbase import cli

    root = typer.main.get_command(app)
    assert isinstance(root, cli.LazyGroup)
    for name, lazy in cli._LAZY.items():
        command = root.get_command(typer.Context(root), name)
        assert command is not None and command.name == name
        if lazy is not None:
            stand_in = lazy.stand_in(name)
            assert (stand_in.help, stand_in.short_help) == (command.help, command.short_help)
            assert (stand_in.hidden, stand_in.deprecated) == (command.hidden, command.deprecated)
    assert cli.LogFormat == logs.LogFormat


def test_a_command_imports_only_its_own_package() -> None:
    code = (
        "import sys\n"
        "from leadbase.cli import app\n"
        "try:\n"
        "    app(['import', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert "leadbase.imports.cli" in loaded
    for other in ("leadbase.sync.airtable.cli", "leadbase.auth.cli", "fastapi", "uvicorn"):
        assert other not in loaded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env_without_leadbase() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LEADBASE_")}


def test_serve_creates_private_sqlite_and_answers_health(tmp_path: Path) -> None:
    """A fresh folder: `db upgrade` then `serve` → ./data/leadbase.db (0600), /health up."""
    env = _env_without_leadbase()
    upgrade = subprocess.run(
        [sys.executable, "-m", "leadbase", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    database = tmp_path / "data" / "leadbase.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "leadbase", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["success"] is True
        assert response.json()["data"]["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_cli_error_is_a_clear_message_and_exit_2(tmp_path: Path) -> None:
    env = {**_env_without_leadbase(), "LEADBASE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = subprocess.run(
        [sys.executable, "-m", "leadbase", "restore", str(tmp_path / "missing.backup")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no such backup file" in result.stderr
    assert "Traceback" not in result.stderr
