"""The ``grpc.aio`` server of ``amss server`` / ``amss serve``: the four AMSS services,
the standard health service and server reflection, on ``GRPC_ADDR``."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from amss.auth.tokens import TokenSigner
from amss.config import Settings
from amss.db.engine import Database
from amss.grpc.gen import amss_pb2, amss_pb2_grpc
from amss.grpc.interceptors import AmssInterceptor
from amss.grpc.servicers import (
    AuditServicer,
    InventoryServicer,
    ProgramServicer,
    TaskServicer,
)
from amss.kit import tracing
from amss.kit.http import JSON_BODY_LIMIT
from amss.kit.logging import get_logger
from amss.kit.ratelimit import RateLimiter

_log = get_logger(__name__)

SERVICES = tuple(
    amss_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in ("TaskService", "InventoryService", "AuditService", "ProgramService")
)
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    stopped: bool = False

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Report NOT_SERVING, refuse new calls, let calls in flight finish within
        ``grace`` seconds. Once; a second call returns at once."""
        if self.stopped:
            return
        self.stopped = True
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        _log.info("gRPC server stopped")


def listen_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_grpc_server(
    settings: Settings,
    database: Database,
    signer: TokenSigner,
    limiter: RateLimiter,
    listen: tuple[str, int],
) -> GrpcServer:
    """Build and start the server; ``listen`` port 0 picks a free port (tests)."""
    server = grpc.aio.server(
        interceptors=[
            *tracing.grpc_server_interceptors(),
            AmssInterceptor(settings, database, signer, limiter),
        ],
        options=[
            # The same cap as a JSON body over REST.
            ("grpc.max_receive_message_length", JSON_BODY_LIMIT),
            # A second server on a taken port must fail, not share it silently.
            ("grpc.so_reuseport", 0),
        ],
    )
    amss_pb2_grpc.add_TaskServiceServicer_to_server(TaskServicer(), server)  # type: ignore[no-untyped-call]
    amss_pb2_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(), server)  # type: ignore[no-untyped-call]
    amss_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(), server)  # type: ignore[no-untyped-call]
    amss_pb2_grpc.add_ProgramServiceServicer_to_server(ProgramServicer(), server)  # type: ignore[no-untyped-call]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(listen_target(*listen))
    await server.start()
    for name in ("", *SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    _log.info("gRPC server listening", address=listen_target(listen[0], port))
    return GrpcServer(server, health_servicer, port)
