"""The gateway's configuration: passwords from the environment or a secrets file, never
shown; every mistake at file:line:col."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from cti_fsm import SpecError
from cti_fsm.cli import main
from cti_fsm.gateway import load_config

GOOD = """\
nats: nats://127.0.0.1:4222
tenant: acme
vendor: csta-ws
url: ws://127.0.0.1:8765/
secrets_file: secrets.yaml
agents:
  - id: "1001"
    password_env: PW_1001
  - id: "1002"
    user: u1002
    rights: [supervise]
"""


def test_passwords_come_from_the_environment_and_the_secrets_file(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text('"1002": s3cret-1002\n')
    path = tmp_path / "gw.yaml"
    path.write_text(GOOD)
    config = load_config(path, {"PW_1001": "s3cret-1001"})
    a, b = config.agents["1001"], config.agents["1002"]
    assert a.password.reveal() == "s3cret-1001" and a.user == "1001"
    assert b.password.reveal() == "s3cret-1002" and b.user == "u1002"
    assert b.rights == ("supervise",)
    shown = repr(config) + str(attrs.asdict(a)) + repr(b)
    assert "s3cret" not in shown


def test_every_mistake_is_reported_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "nats: nats://127.0.0.1:4222\n"
        "tenant: a.b\n"
        "vendor: csta-ws\n"
        "url: ws://x/\n"
        "colour: blue\n"
        "agents:\n"
        '  - id: "1001"\n'
        "    password_env: NOT_SET\n"
        '  - id: "1002"\n'
    )
    with pytest.raises(SpecError) as raised:
        load_config(path, {})
    text = str(raised.value)
    assert f"{path}:2:9: a tenant is letters" in text
    assert f"{path}:5:1: unknown key 'colour'" in text
    assert f"{path}:8:19: environment variable 'NOT_SET'" in text
    assert f"{path}:9:5: agent '1002' has no password" in text


def test_the_command_line_refuses_a_bad_configuration_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("tenant: acme\n")
    assert main(["gateway", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cti-fsm gateway: argument --config: ")
    assert "'nats' is needed" in err and "Traceback" not in err
    assert main(["gateway", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
