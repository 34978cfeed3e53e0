"""API keys: stored hashed, bound to scopes; the principal a key stands for and what it may use."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphmem import Config, ConfigError, Forbidden, GraphMemError, InvalidInputError, Unauthorized
from graphmem.cli import app
from graphmem.server.auth import Keys, Principal, add_key, hash_key, is_loopback, remove_key

ALICE = Principal("alice", user_id="alice")
ADMIN = Principal("ops", admin=True)


def test_a_bound_key_fills_its_scope_and_refuses_any_other() -> None:
    assert ALICE.scope() == {"user_id": "alice"}
    assert ALICE.scope(user_id="alice", run_id="r1") == {"user_id": "alice", "run_id": "r1"}
    assert ALICE.scope(agent_id="a") == {"user_id": "alice", "agent_id": "a"}
    with pytest.raises(Forbidden):
        ALICE.scope(user_id="bob")
    with pytest.raises(Forbidden):
        ALICE.scope(user_id="bob", default={"user_id": "alice"})
    agent = Principal("cursor", agent_id="cursor")
    with pytest.raises(Forbidden):
        agent.scope(agent_id="other", user_id="alice")
    assert issubclass(Forbidden, GraphMemError) and issubclass(Unauthorized, GraphMemError)


def test_the_default_scope_fills_what_a_request_leaves_out() -> None:
    default = {"user_id": "me"}
    assert ADMIN.scope(default=default) == {"user_id": "me"}
    assert ADMIN.scope(run_id="r", default=default) == {"user_id": "me", "run_id": "r"}
    assert ADMIN.scope(user_id="bob", default=default) == {"user_id": "bob"}
    assert ALICE.scope(default=default) == {"user_id": "alice"}  # the key's scope first
    with pytest.raises(InvalidInputError):
        ADMIN.scope()


def test_owns_a_memory_or_history_event_of_its_scope_only() -> None:
    assert ALICE.owns({"id": "1", "user_id": "alice", "agent_id": "x"})
    assert not ALICE.owns({"id": "1", "user_id": "bob"})
    assert not ALICE.owns({"id": "1", "agent_id": "x"})  # no user: not alice's
    assert ADMIN.owns({"id": "1", "user_id": "bob"})
    ADMIN.require_admin()
    with pytest.raises(Forbidden):
        ALICE.require_admin()


def test_keys_are_stored_hashed_and_found_by_the_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    alice = add_key(path, "alice", user_id="alice")
    ops = add_key(path, "ops", admin=True)
    text = path.read_text()
    assert alice not in text and ops not in text and hash_key(alice) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = Keys.load(path)
    assert keys and not keys.empty
    assert keys.principal(alice) == Principal("alice", user_id="alice")
    assert keys.principal(ops).admin
    for bad in (None, "", "gm_nope", alice + "x"):
        with pytest.raises(Unauthorized):
            keys.principal(bad)
    with pytest.raises(InvalidInputError):
        add_key(path, "alice", user_id="alice2")  # names are unique
    with pytest.raises(InvalidInputError):
        add_key(path, "both", admin=True, user_id="x")
    remove_key(path, "alice")
    with pytest.raises(Unauthorized):
        Keys.load(path).principal(alice)


def test_keys_from_toml_and_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "keys.toml"
    toml.write_text(f'[keys."{hash_key("k1")}"]\nname = "bob"\nuser_id = "bob"\nrun_id = "r"\n')
    env = json.dumps({"keys": {hash_key("k2"): {"name": "ops", "admin": True}}})
    keys = Keys.load(toml, env)
    assert keys.principal("k1") == Principal("bob", user_id="bob", run_id="r")
    assert keys.principal("k2").admin
    assert Keys.load(None, env).principal("k2").admin
    config = Config.load({"api_keys": env, "keys_file": toml})
    assert Keys.from_config(config).principal("k1").user_id == "bob"
    with pytest.raises(ConfigError):
        Keys.from_config(config, tmp_path / "missing.json")  # a given file wins, and must exist
    monkeypatch.setenv("GRAPHMEM_API_KEYS", env)
    assert Keys.from_config(Config.load()).principal("k2").admin


@pytest.mark.parametrize(
    "doc",
    [
        "not json",
        '["a list"]',
        '{"keys": {"md5:abc": {"user_id": "a"}}}',
        '{"keys": {"sha256:' + "0" * 64 + '": {"name": "no scope"}}}',
        '{"keys": {"sha256:' + "0" * 64 + '": {"user_id": "a", "admin": true}}}',
        '{"keys": {"sha256:' + "0" * 64 + '": {"user_id": "a", "role": "x"}}}',
    ],
)
def test_a_malformed_keys_document_is_a_config_error(doc: str) -> None:
    with pytest.raises(ConfigError):
        Keys.load(None, doc)


def test_without_keys_loopback_clients_are_anonymous_admins(tmp_path: Path) -> None:
    keys = Keys.load(None, None)
    assert keys.empty and not keys
    assert keys.principal(None).admin and keys.principal(None, "127.0.0.1").admin
    assert keys.principal("whatever", "::1").admin
    with pytest.raises(Unauthorized):
        keys.principal(None, "10.0.0.7")
    with pytest.raises(ConfigError):
        Keys.load(tmp_path / "missing.json")
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com") and not is_loopback("")


def test_the_keys_command_prints_the_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    runner = CliRunner()
    out = runner.invoke(app, ["keys", "add", "--user", "alice", "--file", str(path)])
    assert out.exit_code == 0, out.output
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("gm_") and key not in path.read_text()
    assert Keys.load(path).principal(key).user_id == "alice"
    listed = runner.invoke(app, ["keys", "list", "--file", str(path)])
    assert json.loads(listed.stdout) == {"name": "alice", "admin": False, "user_id": "alice"}
    again = runner.invoke(app, ["keys", "add", "--user", "alice", "--file", str(path)])
    assert again.exit_code == 2
    assert runner.invoke(app, ["keys", "remove", "alice", "--file", str(path)]).exit_code == 0
    assert Keys.load(path).empty
