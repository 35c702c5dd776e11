"""`taskforce up` / `down`: a local Prefect server and the mail catcher, kept running in the
background so that each CLI command talks to them instead of starting Prefect's temporary
server (11–14 s per process on this machine, against 3–4 s with a server already up).

The state is a small JSON file under ``var/run/``; a command finds the server there and sets
``PREFECT_API_URL`` for itself. With nothing up, Prefect's temporary server is used as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from urllib.parse import urlsplit

from config.settings import Settings

SERVER_START_TIMEOUT = 90.0  # a fresh database takes ~16 s here; slow disks more

# Settings for the Prefect servers we start: `up`'s and the temporary one a command falls back
# to. By default the task-run recorder writes each task-run event in a transaction of its own as
# it arrives, which is while the flow creates its next sub-run; the API's create reads, then
# writes, in a deferred SQLite transaction, so it fails at once with SQLITE_BUSY (SQLite's busy
# timeout does not cover that upgrade), answers 503, and the client retries after 2 s. Batched,
# the recorder writes every 5 s (its flush interval): the UI shows task runs up to 5 s late, and
# a second sub-run after tasks waits those 2 s far less often (measured here: a minimal parent
# flow 10 times in 10, batched 11 in 48; the reminder tick's second sub-run 12 in 16, 2 in 48).
SERVER_SETTINGS = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "500"}


@dataclass(frozen=True)
class Services:
    api_url: str
    server_pid: int
    catcher_pid: int | None  # None: a catcher was already listening (the demo's, say)


def run_dir(settings: Settings) -> Path:
    return settings.var_dir / "run"


def state_file(settings: Settings) -> Path:
    return run_dir(settings) / "services.json"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((host, port)) == 0


def _healthy(api_url: str, timeout: float = 1.0) -> bool:
    # http.client, not httpx: an httpx client loads the CA bundle first, ~0.1 s of every
    # command that runs a flow, for a plain-HTTP request to 127.0.0.1.
    url = urlsplit(f"{api_url}/health")
    kind = HTTPSConnection if url.scheme == "https" else HTTPConnection
    connection = kind(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        connection.request("GET", url.path)
        return connection.getresponse().status == 200
    except (OSError, HTTPException):
        return False
    finally:
        connection.close()


def read_state(settings: Settings) -> Services | None:
    """The services recorded by `up`, if its server process is still alive."""
    path = state_file(settings)
    if not path.exists():
        return None
    try:
        state = Services(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return None
    return state if _alive(state.server_pid) else None


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            args, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # survives the `up` command; `down` signals the group
        )  # fmt: skip
    return process.pid


def _ours() -> tuple[str, ...]:
    """The logging variables the long-lived server does not inherit: it logs to its own file
    (prefect-server.log, its stdout) with Prefect's default config, not into the commands' log
    file (flows.cli.common.prefect_environment). A logging config of the user's own is kept."""
    from flows.cli.common import LOGGING_CONFIG

    if os.environ.get("PREFECT_LOGGING_SETTINGS_PATH") != str(LOGGING_CONFIG):
        return ()
    return ("PREFECT_LOGGING_SETTINGS_PATH", "PREFECT_LOGGING_ROOT_HANDLERS")


def start(settings: Settings, port: int) -> Services:
    """Start the Prefect server (its own database under var/prefect-server) and the catcher."""
    running = read_state(settings)
    if running is not None:
        return running
    if _listening("127.0.0.1", port):
        raise OSError(f"端口 {port} 已被占用，请用 --port 换一个端口")
    bin_dir = Path(sys.executable).parent
    home = (settings.var_dir / "prefect-server").resolve()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **SERVER_SETTINGS,  # the caller's environment may override them
        **{k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", *_ours())},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The UI asks the server where its API is; without these it says port 4200.
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url,
    }
    server_pid = _spawn(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        run_dir(settings) / "prefect-server.log",
        env,
    )
    catcher_pid = None
    if not _listening(settings.mailcatcher.host, settings.mailcatcher.port):
        catcher_pid = _spawn(
            [str(bin_dir / "taskforce"), "mailcatcher"], run_dir(settings) / "mailcatcher.log",
            {**os.environ},
        )  # fmt: skip
    services = Services(api_url, server_pid, catcher_pid)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(services.api_url):
        if time.monotonic() > deadline or not _alive(server_pid):
            stop_pids([server_pid, catcher_pid])
            raise OSError(f"Prefect 服务未能启动，详见 {run_dir(settings) / 'prefect-server.log'}")
        time.sleep(0.5)
    state_file(settings).write_text(json.dumps(asdict(services)), encoding="utf-8")
    return services


def stop_pids(pids: list[int | None], timeout: float = 15.0) -> None:
    """SIGTERM each process group, then SIGKILL what is left after ``timeout``."""
    live = [pid for pid in pids if pid is not None and _alive(pid)]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in live) and time.monotonic() < deadline:
        time.sleep(0.2)
        for pid in live:  # reap our own children, if we started them in this process
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
    for pid in live:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def stop(settings: Settings) -> Services | None:
    state = read_state(settings)
    if state is not None:
        stop_pids([state.server_pid, state.catcher_pid])
    state_file(settings).unlink(missing_ok=True)
    return state


def use_running_server(settings: Settings) -> str | None:
    """Point this process at the server `up` started, unless PREFECT_API_URL is already set.

    Returns the API URL used, or None when the temporary server will be used (it inherits this
    process's environment, SERVER_SETTINGS included).
    """
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    state = read_state(settings)
    if state is None or not _healthy(state.api_url, timeout=0.5):
        for name, value in SERVER_SETTINGS.items():
            os.environ.setdefault(name, value)
        return None
    os.environ["PREFECT_API_URL"] = state.api_url
    return state.api_url
