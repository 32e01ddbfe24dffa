"""docker-compose.yml and the Dockerfile, kept true without Docker: their services, ports,
volumes, environment variables, commands and files are checked against the real CLIs and
settings, and the services' commands and health checks are run here as plain processes
(on 127.0.0.1 and free ports instead of the compose network)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import yaml

from reference_client.cli import cli as reference_client_cli
from reference_client.config import ClientConfig
from simulator.cli import main as optisim_cli
from simulator.scenario import load_scenario_file
from simulator.server_process import free_port
from simulator.settings import SimSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ALL_SERVICES: dict[str, Any] = COMPOSE["services"]
# The harness itself; services of a profile (observability) are third-party images,
# checked by tests/loadtests/test_observability.py.
SERVICES: dict[str, Any] = {n: s for n, s in ALL_SERVICES.items() if "profiles" not in s}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
APP = "/app"  # the Dockerfile's WORKDIR: the repository's root in the image


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}` with nothing set: the default."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)


def env(service: str) -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in SERVICES[service].get("environment", {}).items()}


def repo_path(image_path: str) -> Path:
    assert image_path.startswith(APP + "/"), image_path
    return ROOT / image_path.removeprefix(APP + "/")


def options_of(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


def flags(argv: list[str]) -> list[str]:
    return [a for a in argv if a.startswith("--")]


# -- the files -----------------------------------------------------------------------------


def test_the_services_and_their_ports() -> None:
    assert set(SERVICES) == {"simulator", "reference-client", "locust-master", "locust-worker"}
    ports = {name: s.get("ports", []) for name, s in SERVICES.items()}
    assert ports == {
        "simulator": ["8900:8900"],
        "reference-client": ["8901:8901"],
        "locust-master": ["8089:8089"],  # the web UI
        "locust-worker": [],
    }
    assert env("simulator")["SIM_PORT"] == "8900"
    assert env("reference-client")["ACF_LISTENER_PORT"] == "8901"
    assert env("locust-master")["LOCUST_WEB_PORT"] == "8089"
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE, re.M)
    assert exposed is not None and {"8900", "8901", "8089"} <= set(exposed.group(1).split())


def test_the_simulator_keeps_its_sqlite_store_on_a_volume() -> None:
    sim = env("simulator")
    assert sim["SIM_STORE"] == "sqlite"
    volume, mount = SERVICES["simulator"]["volumes"][0].split(":")
    assert volume in COMPOSE["volumes"]
    assert Path(sim["SIM_SQLITE_PATH"]).parent == Path(mount)
    client_volume, client_mount = SERVICES["reference-client"]["volumes"][0].split(":")
    assert client_volume in COMPOSE["volumes"]
    assert Path(env("reference-client")["ACF_STORE_PATH"]).parent == Path(client_mount)


def test_every_environment_variable_is_a_real_setting() -> None:
    sim_settings = {f"SIM_{name.upper()}" for name in SimSettings.model_fields}
    acf_settings = {f"ACF_{name.upper()}" for name in ClientConfig.model_fields}
    for name in env("simulator"):
        assert name in sim_settings, name
    for name in env("reference-client"):
        assert name in acf_settings, name
    SimSettings.model_validate(  # the values are valid too
        {k.removeprefix("SIM_").lower(): v for k, v in env("simulator").items()}
    )
    ClientConfig.model_validate(
        {k.removeprefix("ACF_").lower(): v for k, v in env("reference-client").items()}
    )


def test_the_locust_services_name_real_locustfiles_and_options() -> None:
    """LOCUST_* and OPTISIM_* variables are options of the file they run (read from
    locust's own parser, in a process: importing locust here would monkey-patch pytest)."""
    known: dict[Path, set[str]] = {}
    for service in ("locust-master", "locust-worker"):
        variables = env(service)
        locustfile = repo_path(variables["LOCUST_LOCUSTFILE"])
        assert locustfile.exists()
        if locustfile not in known:
            listed = subprocess.check_output([sys.executable, "-c", ENV_VARS, str(locustfile)])
            known[locustfile] = set(json.loads(listed))
        assert set(variables) <= known[locustfile], set(variables) - known[locustfile]


ENV_VARS = """
import json, sys
from locust import argument_parser
from locust.util.load_locustfile import load_locustfile
load_locustfile(sys.argv[1])
parser = argument_parser.get_parser()
print(json.dumps(sorted({a.env_var for a in parser._actions if getattr(a, "env_var", None)})))
"""


def test_the_world_matches_the_keys_and_secret_the_services_use() -> None:
    world = load_scenario_file(str(repo_path(env("simulator")["SIM_SCENARIO"])))
    keys = {k.role: k.key for k in world.tenant.keys}
    assert keys["integrations"] == env("reference-client")["ACF_API_KEY"]
    assert keys["admin"] == env("locust-master")["OPTISIM_ADMIN_KEY"]
    assert world.tenant.webhookSecret == env("reference-client")["ACF_WEBHOOK_SECRET"]
    assert world.population.size == 5_000_000  # large-list's maximum


def test_the_commands_are_real_commands_with_real_options() -> None:
    serve = SERVICES["simulator"]["command"]
    assert serve[:2] == ["optisim", "serve"]
    assert set(flags(serve)) <= options_of(optisim_cli.commands["serve"])
    client = SERVICES["reference-client"]["command"]
    assert client[:2] == ["reference-client", "run"]
    assert set(flags(client)) <= options_of(reference_client_cli.commands["run"])
    cmd = re.search(r"^CMD (.+)$", DOCKERFILE, re.M)
    assert cmd is not None
    default = json.loads(cmd.group(1))
    assert default[:2] == ["optisim", "serve"]
    assert set(flags(default)) <= options_of(optisim_cli.commands["serve"])


def test_the_dockerfile_installs_the_project_and_runs_as_a_user() -> None:
    assert re.search(r"^FROM python:3\.11-slim$", DOCKERFILE, re.M)
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    extra = re.search(r'pip install "\.\[(\w+)\]"', DOCKERFILE)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert extra is not None and re.search(rf"^{extra.group(1)} = \[.*locust", pyproject, re.M)
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(rf"useradd .*{user[-1]}", DOCKERFILE)
    for name, service in SERVICES.items():
        assert service["build"] == "." and service["image"] == "optisim:local", name


def test_workers_find_their_master_and_wait_for_it() -> None:
    worker = SERVICES["locust-worker"]
    assert worker["command"][worker["command"].index("--master-host") + 1] == "locust-master"
    assert "locust-master" in worker["depends_on"]
    master = SERVICES["locust-master"]
    assert "--master" in master["command"]
    assert master["depends_on"]["simulator"]["condition"] == "service_healthy"
    assert (
        master["command"][master["command"].index("--host") + 1]
        == env("reference-client")["ACF_OPTIMOVE_URL"]
    )


# -- the same commands, without Docker -------------------------------------------------------


def on_localhost(variables: dict[str, str], simulator_url: str) -> dict[str, str]:
    """The compose network's names, wildcard binds and image paths, as this machine sees
    them."""
    out = {}
    for key, value in variables.items():
        value = value.replace("http://simulator:8900", simulator_url)
        if value.startswith(APP + "/"):
            value = str(repo_path(value))
        out[key] = "127.0.0.1" if value == "0.0.0.0" else value
    return out


def executable(argv: list[str]) -> list[str]:
    """The image's console scripts, run by this interpreter."""
    scripts = {
        "optisim": [sys.executable, "-c", "from simulator.cli import main; main()"],
        "reference-client": [sys.executable, "-m", "reference_client.cli"],
        "locust": [sys.executable, "-m", "locust"],
        "python": [sys.executable],
    }
    return [*scripts[argv[0]], *argv[1:]]


def healthcheck(service: str, variables: dict[str, str], timeout_s: float = 60.0) -> None:
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = subprocess.run(
            executable(test[1:]), env={**os.environ, **variables}, capture_output=True
        )
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{service}'s health check never passed: {done.stderr.decode()[-500:]}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in reversed(started):
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.slow
def test_the_services_run_as_configured_and_pass_their_health_checks(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    # The simulator: its command and environment, on a free port, the store in tmp.
    sim_port = free_port()
    simulator_url = f"http://127.0.0.1:{sim_port}"
    sim_env = on_localhost(env("simulator"), simulator_url)
    sim_env["SIM_PORT"] = str(sim_port)
    sim_env["SIM_SQLITE_PATH"] = str(tmp_path / "optisim.sqlite")
    processes.append(
        subprocess.Popen(
            executable(SERVICES["simulator"]["command"]), env={**os.environ, **sim_env}
        )
    )
    healthcheck("simulator", sim_env)
    assert (tmp_path / "optisim.sqlite").exists()  # the store the volume would keep

    # The reference client: the same, reached at its public URL on this machine.
    client_port = free_port()
    client_env = on_localhost(env("reference-client"), simulator_url)
    client_env["ACF_LISTENER_PORT"] = str(client_port)
    client_env["ACF_STORE_PATH"] = str(tmp_path / "wallet.sqlite")
    command = [
        f"http://127.0.0.1:{client_port}" if arg == "http://reference-client:8901" else arg
        for arg in SERVICES["reference-client"]["command"]
    ]
    processes.append(subprocess.Popen(executable(command), env={**os.environ, **client_env}))
    healthcheck("reference-client", client_env)
    admin = {"X-API-KEY": env("locust-master")["OPTISIM_ADMIN_KEY"]}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # it registered itself with the simulator
        hook = httpx.get(
            f"{simulator_url}/conditional-execution/v2/triggered/webhooks/", headers=admin
        )
        if hook.status_code == 200:
            break
        time.sleep(0.1)
    assert hook.json()["url"] == f"http://127.0.0.1:{client_port}/optimove/triggered"

    # locust: master and worker command lines parse and load their file (--list exits
    # before binding any port: the master's web UI and port are for the compose network).
    for service in ("locust-master", "locust-worker"):
        argv = on_localhost({"a": shlex.join(SERVICES[service]["command"])}, simulator_url)["a"]
        listed = subprocess.run(
            [*executable(shlex.split(argv)), "--list"],
            env={**os.environ, **on_localhost(env(service), simulator_url)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert "EventSource" in listed.stdout
