"""A gateway's configuration file: which broker, which tenant, which vendor, which agents.

::

    nats: nats://127.0.0.1:4222
    tenant: acme
    vendor: csta-ws
    url: ws://pbx.example:8080/
    secrets_file: /run/secrets/cti.yaml   # optional: {agent id: password}
    lease_seconds: 6                        # optional: how long a lease lasts unrenewed
    agents:
      - id: "1001"                          # the agent's id in subjects and keys
        user: "1001"                        # its login (default: the id)
        password_env: CTI_PASSWORD_1001     # or its entry in secrets_file
        rights: [supervise]                 # optional

Passwords are never in this file: each agent names an environment variable
(``password_env``) or takes its entry in the secrets file (a YAML mapping of agent id to
password, readable only by the gateway's user). They are held as ``Secret`` from the moment
they are read. A mistake is reported with the file, the line and the column, like a chart's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from ..errors import Problem, SpecError
from ..secrets import Secret
from ..yaml_nodes import compose_text

__all__ = ["AgentConfig", "GatewayConfig", "load_config"]

#: an id or tenant goes into NATS subjects and key names: one token, no dots or wildcards
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_KEYS = {"nats", "tenant", "vendor", "url", "secrets_file", "lease_seconds", "agents", "options"}
_AGENT_KEYS = {"id", "user", "password_env", "rights"}


@attrs.frozen
class AgentConfig:
    """One agent a gateway may hold.

    Attributes:
        id: its id in subjects and keys.
        user: its login.
        password: its login secret.
        rights: its rights.
    """

    id: str
    user: str
    password: Secret = attrs.field(repr=False)
    rights: tuple[str, ...] = ()


@attrs.frozen
class GatewayConfig:
    """A parsed configuration file (see the module's docstring).

    Attributes:
        nats: the broker's URL.
        tenant: the tenant, in every subject and key.
        vendor: the adapter's name.
        url: the vendor server's URL.
        agents: the agents, by id, in file order.
        lease_seconds: how long an unrenewed lease lasts; renewed every third of it.
        options: vendor options passed to every agent.
    """

    nats: str
    tenant: str
    vendor: str
    url: str
    agents: Mapping[str, AgentConfig]
    lease_seconds: float = 6.0
    options: Mapping[str, Any] = attrs.field(factory=dict)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read a gateway configuration file, with its agents' passwords.

    Raises:
        SpecError: the file has mistakes (every one, at ``file:line:col``), or names a
            password that is not there (the variable or the secrets file's entry).
        OSError: the file cannot be read.
    """
    env = os.environ if environ is None else environ
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    name = str(path)
    data, where = _with_positions(compose_text(text, name))
    problems: list[Problem] = []

    def bad(node: object, message: str) -> None:
        line, col = where(node)
        problems.append(Problem(name, line, col, message))

    if not isinstance(data, Mapping):
        raise SpecError([Problem(name, 1, 1, "a gateway configuration is a mapping")])
    for key in data:
        if key not in _KEYS:
            bad(key, f"unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
    text_of: dict[str, str] = {}
    for key in ("nats", "tenant", "vendor", "url"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            bad(data if value is None else value, f"{key!r} is needed, as text")
        else:
            text_of[key] = value
    if "tenant" in text_of and not _TOKEN.match(text_of["tenant"]):
        bad(data["tenant"], "a tenant is letters, digits, '-' and '_' only")
    lease = data.get("lease_seconds", 6.0)
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not lease > 0:
        bad(lease, "lease_seconds is a positive number")
        lease = 6.0
    options = data.get("options", {})
    if not isinstance(options, Mapping):
        bad(options, "options is a mapping")
        options = {}
    secrets = _secrets(data.get("secrets_file"), path, bad)
    agents: dict[str, AgentConfig] = {}
    listed = data.get("agents")
    if not isinstance(listed, list) or not listed:
        bad(data if listed is None else listed, "agents is a list of one or more agents")
        listed = []
    for entry in listed:
        agent = _agent(entry, secrets, env, bad)
        if agent is None:
            continue
        if agent.id in agents:
            bad(entry, f"agent {agent.id!r} is listed twice")
        agents[agent.id] = agent
    if problems:
        raise SpecError(problems)
    return GatewayConfig(
        text_of["nats"],
        text_of["tenant"],
        text_of["vendor"],
        text_of["url"],
        agents,
        float(lease),
        dict(options),
    )


def _secrets(file: object, config: Path, bad: Any) -> Mapping[str, str]:
    if file is None:
        return {}
    if not isinstance(file, str):
        bad(file, "secrets_file is a path")
        return {}
    path = (config.parent / file).resolve()
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        # the error says where, never what the file holds
        bad(file, f"secrets_file {str(path)!r} cannot be read: {type(exc).__name__}")
        return {}
    if not isinstance(loaded, Mapping) or not all(isinstance(v, str) for v in loaded.values()):
        bad(file, "secrets_file is a mapping of agent id to password (text)")
        return {}
    return {str(k): v for k, v in loaded.items()}


def _agent(
    entry: object, secrets: Mapping[str, str], env: Mapping[str, str], bad: Any
) -> AgentConfig | None:
    if not isinstance(entry, Mapping):
        bad(entry, "an agent is a mapping with id and password_env (or a secrets_file entry)")
        return None
    for key in entry:
        if key not in _AGENT_KEYS:
            bad(key, f"unknown agent key {key!r} (known: {', '.join(sorted(_AGENT_KEYS))})")
    ident = entry.get("id")
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)
    if not isinstance(ident, str) or not _TOKEN.match(ident):
        bad(entry if ident is None else ident, "an agent's id is letters, digits, '-', '_'")
        return None
    user = entry.get("user", ident)
    if not isinstance(user, str | int) or isinstance(user, bool):
        bad(user, "an agent's user is text")
        return None
    variable = entry.get("password_env")
    if variable is not None:
        if not isinstance(variable, str):
            bad(variable, "password_env names an environment variable")
            return None
        password = env.get(variable)
        if password is None:
            bad(
                variable,
                f"environment variable {variable!r} (agent {ident!r}'s password) is not set",
            )
            return None
    elif ident in secrets:
        password = secrets[ident]
    else:
        bad(entry, f"agent {ident!r} has no password: give password_env or a secrets_file entry")
        return None
    rights = entry.get("rights", [])
    if not isinstance(rights, list) or not all(isinstance(r, str) for r in rights):
        bad(rights, "an agent's rights are a list of names")
        rights = []
    return AgentConfig(ident, str(user), Secret(password), tuple(rights))


def _with_positions(root: yaml.Node | None) -> tuple[Any, Any]:
    """The plain values of a composed document, and ``where(value)``: the 1-based line and
    column of the node a mapping, list or text value came from ((1, 1) if not known)."""
    marks: dict[int, tuple[int, int]] = {}
    kept: list[object] = []  # alive while positions are looked up, so ids stay unique

    def plain(node: yaml.Node) -> Any:
        value: Any
        if isinstance(node, yaml.MappingNode):
            value = {plain(k): plain(v) for k, v in node.value}
        elif isinstance(node, yaml.SequenceNode):
            value = [plain(v) for v in node.value]
        else:
            value = yaml.SafeLoader(" ").construct_object(node)
        kept.append(value)
        marks.setdefault(id(value), (node.start_mark.line + 1, node.start_mark.column + 1))
        return value

    data = plain(root) if root is not None else None

    def where(value: object) -> tuple[int, int]:
        return marks.get(id(value), (1, 1))

    return data, where
