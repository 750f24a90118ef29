"""Running the app under uvicorn on a socket we bind ourselves (so port 0 works)."""

import socket

import uvicorn

from merge_sandbox.app import create_app
from merge_sandbox.state import Sandbox


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def make_server(sandbox: Sandbox, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server without its own ``Date``/``Server`` headers (the sandbox sets ``Date``)."""
    config = uvicorn.Config(
        create_app(sandbox),
        log_level=log_level,
        access_log=False,
        date_header=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}/api"
