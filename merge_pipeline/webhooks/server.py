"""Serving the receiver with uvicorn: its own process, behind an HTTPS-terminating proxy."""

import logging
import socket

import sqlalchemy as sa
import uvicorn

from merge_pipeline.settings import Settings
from merge_pipeline.webhooks.app import WEBHOOK_PATH, create_app

logger = logging.getLogger(__name__)


def make_server(
    settings: Settings, engine: sa.Engine, *, log_level: str = "info"
) -> uvicorn.Server:
    """A uvicorn server for the receiver; ``proxy_headers`` so logs name the real client."""
    config = uvicorn.Config(
        create_app(settings, engine),
        log_level=log_level,
        log_config=None,  # our logging setup, so the receiver's lines and uvicorn's look alike
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket we own, so port 0 (any free port) works and the port is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    return sock


def serve(settings: Settings, engine: sa.Engine, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM stop it gracefully); port 0 = any free one."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = make_server(settings, engine)
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    logger.info("receiving Merge's webhooks at http://%s:%d%s", host, bound_port, WEBHOOK_PATH)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
