"""API keys of the servers, each bound to the scopes it may use; stored as hashes only.

A keys file (JSON, or TOML by its ``.toml`` suffix) maps each key's hash to what the key
may do; ``GRAPHMEM_API_KEYS`` may hold the same JSON document (both are read)::

    {"keys": {"sha256:9f86d0…": {"name": "alice", "user_id": "alice"},
              "sha256:60303a…": {"name": "ops", "admin": true}}}

A key bound to ``user_id=alice`` uses alice's scope, narrowed by an ``agent_id`` or ``run_id``
if a request gives one (or bound to them too), and never another scope: a request that names
one gets :class:`~graphmem.errors.Forbidden` (403). An admin key may use every scope and
call ``reset``. A memory id of another scope is answered as if it did not exist
(:class:`~graphmem.errors.NotFoundError`, 404): a key cannot even learn that it exists.

Keys are 256 random bits (``gm_`` + URL-safe base64); their SHA-256 is compared in constant
time against every stored hash. Without any key configured, a server serves loopback
clients only, as an anonymous admin (a personal server on one's own machine).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import ConfigError, Forbidden, InvalidInputError, Unauthorized

SCOPE_KEYS = ("user_id", "agent_id", "run_id")
#: the environment variable that may hold a keys document (read through ``Config.api_keys``)
ENV = "GRAPHMEM_API_KEYS"
PREFIX = "gm_"


def hash_key(api_key: str) -> str:
    return "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Principal:
    """Who is calling: the scope keys their API key is bound to, or an admin (every scope)."""

    name: str
    admin: bool = False
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    @property
    def bound(self) -> dict[str, str]:
        """The scope keys this principal is bound to (none for an admin)."""
        values = (self.user_id, self.agent_id, self.run_id)
        return {k: v for k, v in zip(SCOPE_KEYS, values) if v is not None}

    def scope(
        self,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        default: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The scope a request may use: the keys it names, the keys this principal is bound
        to (a request naming another value for one of them is :class:`Forbidden`), then the
        server's ``default`` scope for the keys still left out. ``InvalidInputError`` when no
        key is left at all."""
        asked = {k: v for k, v in zip(SCOPE_KEYS, (user_id, agent_id, run_id)) if v is not None}
        for key, value in self.bound.items():
            if asked.get(key, value) != value:
                raise Forbidden(f"this API key may not use {key}={asked[key]!r}")
            asked[key] = value
        for key, value in (default or {}).items():
            if key not in SCOPE_KEYS:
                raise ConfigError(f"not a scope key in the default scope: {key!r}")
            asked.setdefault(key, value)
        if not asked:
            raise InvalidInputError("one of user_id, agent_id or run_id is required")
        return {k: asked[k] for k in SCOPE_KEYS if k in asked}

    def owns(self, memory: Mapping[str, Any]) -> bool:
        """Whether a memory (a result of ``get``, ``get_all``, ``search``) or a history event
        is in this principal's scope: an admin owns everything."""
        return self.admin or all(memory.get(k) == v for k, v in self.bound.items())

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden("only an admin API key may do this")


ANONYMOUS = Principal("anonymous", admin=True)


@dataclass(frozen=True)
class Keys:
    """The API keys a server accepts: key hash → :class:`Principal`."""

    by_hash: Mapping[str, Principal] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None, env: str | None = None) -> Keys:
        """The keys of the file at ``path`` and of ``env`` (the text of ``GRAPHMEM_API_KEYS``);
        a missing or malformed source is a :class:`ConfigError`."""
        found: dict[str, Principal] = {}
        if path is not None:
            found.update(_parse(_read(path), str(path)))
        if env:
            found.update(_parse(_json(env, ENV), ENV))
        return cls(found)

    @classmethod
    def from_config(cls, config: Config, path: Path | None = None) -> Keys:
        """The keys of ``path`` (else ``GRAPHMEM_KEYS_FILE``) and of ``GRAPHMEM_API_KEYS``."""
        env = config.api_keys.get_secret_value() if config.api_keys else None
        return cls.load(path or config.keys_file, env)

    @property
    def empty(self) -> bool:
        return not self.by_hash

    def __bool__(self) -> bool:
        return not self.empty

    def principal(self, api_key: str | None, client: str | None = None) -> Principal:
        """Who presents ``api_key``: :class:`Unauthorized` if keys are configured and it is
        missing or unknown. Without keys, the anonymous admin, for a loopback ``client``
        only (when the client's address is given)."""
        if self.empty:
            if client is not None and not is_loopback(client):
                raise Unauthorized("no API key is configured: this server serves loopback only")
            return ANONYMOUS
        if not api_key:
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
        wanted = hash_key(api_key)
        found = None
        for stored, principal in self.by_hash.items():  # every hash compared: constant time
            if hmac.compare_digest(wanted, stored):
                found = principal
        if found is None:
            raise Unauthorized("unknown API key")
        return found


def add_key(path: Path, name: str, admin: bool = False, **scope: str | None) -> str:
    """Create a key bound to ``scope`` (or an admin key), store its hash in the JSON keys file
    at ``path`` (created, readable by its owner only), and return the key: it is shown once."""
    if path.suffix == ".toml":
        raise InvalidInputError("keys are added to a JSON keys file (TOML files are read only)")
    bound = {k: v for k, v in scope.items() if v is not None}
    if set(bound) - set(SCOPE_KEYS):
        raise InvalidInputError(f"not scope keys: {sorted(set(bound) - set(SCOPE_KEYS))}")
    if admin == bool(bound):
        raise InvalidInputError("a key is either bound to user_id/agent_id/run_id or an admin key")
    doc = _read(path) if path.exists() else {"keys": {}}
    entries = _parse(doc, str(path))
    if any(p.name == name for p in entries.values()):
        raise InvalidInputError(f"a key named {name!r} exists already in {path}")
    key = new_key()
    entry: dict[str, Any] = {"name": name, "admin": True} if admin else {"name": name, **bound}
    _parse({"keys": {hash_key(key): entry}}, "the new key")  # the entry is valid
    doc.setdefault("keys", {})[hash_key(key)] = entry
    _write(path, doc)
    return key


def remove_key(path: Path, name: str) -> None:
    doc = _read(path)
    kept = {h: e for h, e in doc.get("keys", {}).items() if e.get("name") != name}
    if len(kept) == len(doc.get("keys", {})):
        raise InvalidInputError(f"no key named {name!r} in {path}")
    _write(path, {**doc, "keys": kept})


def _read(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the API keys file {path}: {e}") from e
    if Path(path).suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"the API keys file {path} is not valid TOML: {e}") from e
    return _json(text, str(path))


def _json(text: str, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"the API keys in {where} are not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"the API keys in {where} must be a JSON object with 'keys'")
    return doc


def _parse(doc: Mapping[str, Any], where: str) -> dict[str, Principal]:
    keys = doc.get("keys", {})
    if not isinstance(keys, dict):
        raise ConfigError(f"'keys' in {where} must map key hashes to scopes")
    out = {}
    for digest, entry in keys.items():
        if not (isinstance(digest, str) and digest.startswith("sha256:") and len(digest) == 71):
            raise ConfigError(f"not a key hash in {where}: {digest!r:.20} (sha256:<64 hex>)")
        if not isinstance(entry, dict) or set(entry) - {"name", "admin", *SCOPE_KEYS}:
            raise ConfigError(f"the key {digest[:15]}… in {where}: name, admin, {SCOPE_KEYS}")
        bound = {k: entry[k] for k in SCOPE_KEYS if entry.get(k) is not None}
        admin = entry.get("admin", False) is True
        if admin == bool(bound) or not all(isinstance(v, str) and v for v in bound.values()):
            raise ConfigError(f"the key {digest[:15]}… in {where}: bind it to a scope, or admin")
        out[digest] = Principal(str(entry.get("name", digest[7:15])), admin, **bound)
    return out


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keys-")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "ANONYMOUS",
    "Keys",
    "Principal",
    "add_key",
    "hash_key",
    "is_loopback",
    "new_key",
    "remove_key",
]
