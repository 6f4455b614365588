"""The Docker image, run as the deployment guide says, against the real Synapse.

The image is the project's Dockerfile built unchanged (``.ci/image``; CI builds it while lint runs
and passes its tag in ``CONCERTO_TEST_IMAGE``). Containers run on the host network, read-only,
with every capability dropped and the data dir mounted on ``/data``, and the shipped
config.example.toml in it. Only the health check's interval is shortened, so "healthy" comes in
seconds rather than after the image's 30 s.

What a deployer's first `docker run` may meet is proven here too: an unreachable homeserver and
a data dir of another user each stop the container with one line and exit code 2.

Skipped, with the reason, only where no container engine can run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from matrix_people import MakePerson, MakeUser, Person, joined, reply_to
from synapse_admin import devices

from bot.tools.local_homeserver import LocalHomeserver, RegisteredUser, free_port
from bot.tools.shipped_config import EXAMPLE, departures, env_name, environment

pytestmark = pytest.mark.container

REPOSITORY = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPOSITORY / ".ci" / "image"
NO_ENGINE = 3  # .ci/image's exit code when no container engine can run here
IMAGE_UID = 1000  # the image's user "concerto"


def _build_image() -> str:
    """The image's tag, built by .ci/image unless CI already did; skips where no engine runs."""
    tag = os.environ.get("CONCERTO_TEST_IMAGE")
    if tag:
        return tag
    reason = os.environ.get("CONCERTO_TEST_NO_CONTAINER_ENGINE")
    if reason:
        pytest.skip(reason)
    if shutil.which("docker") is None and not os.environ.get("CI"):
        pytest.skip("no container engine here: docker is not installed (Debian: docker.io)")
    built = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if built.returncode == NO_ENGINE:
        pytest.skip(built.stderr.strip().splitlines()[-1])
    assert built.returncode == 0, f"building the image failed:\n{built.stderr[-5000:]}"
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def image() -> str:
    return _build_image()


def docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


class Container:
    """One `docker run -d` of the image, with the data dir of a deployment."""

    def __init__(self, image: str, name: str, data: Path) -> None:
        self.image = image
        self.name = name
        self.data = data

    def options(self, env: dict[str, str]) -> list[str]:
        user = [] if os.geteuid() == 0 else ["--user", f"{os.geteuid()}:{os.getegid()}"]
        variables = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        return [
            "--name", self.name,
            "--network", "host", "--read-only", "--cap-drop", "ALL",
            "-v", f"{self.data}:/data",
            *user, *variables,
        ]  # fmt: skip

    def run(self, env: dict[str, str]) -> None:
        """Starts it in the background, its health checked every second."""
        docker("run", "-d", "--health-interval", "1s", *self.options(env), self.image)

    def run_to_the_end(self, env: dict[str, str]) -> tuple[int, str]:
        """Runs it in the foreground until it stops: (exit code, what it printed)."""
        done = subprocess.run(
            ["docker", "run", *self.options(env), self.image],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=False)

    def logs(self) -> str:
        done = subprocess.run(
            ["docker", "logs", self.name], capture_output=True, text=True, check=False
        )
        return done.stdout + done.stderr

    def state(self, field: str) -> str:
        return docker("inspect", "--format", f"{{{{{field}}}}}", self.name)

    async def wait_healthy(self, timeout: float = 60) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while (status := self.state(".State.Health.Status")) != "healthy":
            assert self.state(".State.Running") == "true", f"it stopped:\n{self.logs()[-3000:]}"
            assert time.monotonic() < deadline, f"still {status} after {timeout:.0f} s"
            await asyncio.sleep(0.5)

    async def terminate(self) -> tuple[int, float]:
        """SIGTERM, as `docker stop` sends it: (exit code, seconds it took to stop)."""
        started = time.monotonic()
        docker("kill", "--signal", "SIGTERM", self.name)
        code = await asyncio.to_thread(docker, "wait", self.name, timeout=30)
        return int(code), time.monotonic() - started


@pytest.fixture
def deployment(
    image: str, homeserver: LocalHomeserver, tmp_path: Path
) -> Iterator[tuple[Container, Path]]:
    """A container (not started) and the host folder mounted on its /data, which holds the
    shipped config.example.toml as config.toml and belongs to the image's user."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(EXAMPLE, data / "config.toml")
    if os.geteuid() == 0:
        for path in (data, data / "config.toml"):
            os.chown(path, IMAGE_UID, IMAGE_UID)
    container = Container(image, f"concerto-test-{uuid.uuid4().hex[:10]}", data)
    try:
        yield container, data
    finally:
        container.remove()


def deployment_env(homeserver: LocalHomeserver, account: RegisteredUser, data: Path) -> dict:
    env = environment(
        {
            ("matrix", "homeserver"): homeserver.url,
            ("matrix", "user_id"): account.user_id,
            ("matrix", "device_name"): "concerto-container",
            ("bot", "allowed_inviters"): "@.*:localhost",
        }
    )
    # What the bot reads: config.toml as shipped, the image's data dir, this environment.
    image_env = {env_name("storage", "data_dir"): "/data"}
    departed = departures(data / "config.toml", {**env, **image_env})
    assert not departed, f"the container departs from config.example.toml: {departed}"
    return env


def one_error_line(output: str) -> str:
    """The one error line a stopped bot printed, with no traceback."""
    assert "Traceback" not in output
    assert "Unclosed client session" not in output
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output[-3000:]
    return errors[0]


async def answers_help(organiser: Person, room_id: str, bot_id: str) -> None:
    asked = await organiser.send_text(room_id, "!aide")
    await organiser.wait_for(room_id, reply_to(bot_id, asked), timeout=60)


@pytest.fixture
async def admin_token(make_user: MakeUser) -> AsyncIterator[str]:
    admin = await make_user("admin", admin=True)
    yield admin.access_token


async def test_image_runs_as_deployed_and_restarts_on_its_stored_session(
    deployment, homeserver, make_user, make_person: MakePerson, admin_token
):
    container, data = deployment
    account = await make_user("concerto")
    env = deployment_env(homeserver, account, data)

    # First start: the password once, in the environment.
    container.run({**env, env_name("matrix", "password"): account.password})
    organiser = await make_person("organiser")
    room_id = await organiser.create_room("Conteneur", invite=[account.user_id])
    await organiser.wait_for(room_id, joined(account.user_id), timeout=60)
    await answers_help(organiser, room_id, account.user_id)
    await container.wait_healthy()
    device = json.loads((data / "credentials.json").read_text())["device_id"]
    known = devices(homeserver, admin_token, account.user_id)
    assert device in known

    code, took = await container.terminate()
    assert code == 0, container.logs()[-3000:]
    assert took < 10, f"stopped in {took:.1f} s"
    first_logs = container.logs()
    assert "Traceback" not in first_logs
    assert account.password not in first_logs

    # Recreated without the password, as the guide says: the stored session, same device.
    container.remove()
    container.run(env)
    await container.wait_healthy()
    await answers_help(organiser, room_id, account.user_id)
    assert json.loads((data / "credentials.json").read_text())["device_id"] == device
    assert devices(homeserver, admin_token, account.user_id) == known

    code, took = await container.terminate()
    assert code == 0, container.logs()[-3000:]
    assert took < 10, f"stopped in {took:.1f} s"
    assert "Traceback" not in container.logs()


async def test_first_start_against_an_unreachable_homeserver_is_one_line(
    deployment, homeserver, make_user
):
    container, data = deployment
    account = await make_user("concerto")
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {
        **deployment_env(homeserver, account, data),
        env_name("matrix", "homeserver"): nowhere,
        env_name("matrix", "password"): account.password,
    }
    code, output = container.run_to_the_end(env)
    assert code == 2, output[-3000:]
    line = one_error_line(output)
    assert f"cannot reach the homeserver {nowhere}" in line
    assert account.password not in output


async def test_data_dir_of_another_user_names_the_uid(deployment, homeserver, make_user):
    if os.geteuid() != 0:
        pytest.skip("giving the data dir to root needs root")
    container, data = deployment
    os.chown(data, 0, 0)
    data.chmod(0o755)
    account = await make_user("concerto")
    env = {
        **deployment_env(homeserver, account, data),
        env_name("matrix", "password"): account.password,
    }
    code, output = container.run_to_the_end(env)
    assert code == 2, output[-3000:]
    line = one_error_line(output)
    assert "the data dir /data is not writable" in line
    assert f"make it owned by uid {IMAGE_UID}" in line


def test_image_declares_its_version_user_and_health_check(image):
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image))
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "Concerto"
    assert labels["org.opencontainers.image.version"] == project["project"]["version"]
    assert labels["org.opencontainers.image.licenses"] == project["project"]["license"]
    assert config["User"] == "concerto"
    assert config["Healthcheck"]["Test"] == ["CMD", "concerto", "health", "--max-age", "120"]
    assert config["Entrypoint"] == ["concerto"]
