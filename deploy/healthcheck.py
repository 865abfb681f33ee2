"""The container's health check: ask the standard gRPC health service of this container's
service, exit 0 when it says SERVING, 1 otherwise (not answering, NOT_SERVING, draining).

Docker's HEALTHCHECK and compose run it; Kubernetes asks the same service with its own
gRPC probes. It reads SERVICE and <SERVICE>_PORT, as the service does, and speaks
plaintext: with <SERVICE>_TLS_CERT_FILE set it uses TLS, trusting <SERVICE>_HEALTHCHECK_CA_FILE
(and presenting the service's own certificate, for mTLS), and expects the certificate to
name <SERVICE>_HEALTHCHECK_SERVER_NAME (default: the service's name).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2


def channel(env: dict[str, str]) -> grpc.Channel:
    prefix = env["SERVICE"].upper()
    address = f"127.0.0.1:{env.get(f'{prefix}_PORT', '50051')}"
    cert = env.get(f"{prefix}_TLS_CERT_FILE", "")
    if not cert:
        return grpc.insecure_channel(address)
    ca = env.get(f"{prefix}_HEALTHCHECK_CA_FILE", "")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes() if ca else None,
        private_key=Path(env[f"{prefix}_TLS_KEY_FILE"]).read_bytes(),
        certificate_chain=Path(cert).read_bytes(),
    )
    # The certificate names the service (its DNS name), not 127.0.0.1.
    server_name = env.get(f"{prefix}_HEALTHCHECK_SERVER_NAME", env["SERVICE"])
    options = [("grpc.ssl_target_name_override", server_name)]
    return grpc.secure_channel(address, credentials, options=options)


def main() -> int:
    try:
        with channel(dict(os.environ)) as chan:
            # A typed call (the typeshed stubs of grpcio-health-checking declare no methods).
            check = chan.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            answer = check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError as error:
        print(f"unhealthy: {error.code().name}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
