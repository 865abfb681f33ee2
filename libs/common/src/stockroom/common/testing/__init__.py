"""Helpers for testing Stockroom services: throwaway databases, loopback servers, faults.

- ``fixtures``: a pytest plugin with ``postgres_url``, ``sqlite_url``, ``database_url``;
  load it with ``pytest_plugins = ["stockroom.common.testing.fixtures"]``.
- ``servers.serving``: start a ``GrpcServer`` on a free port for the test's duration.
- ``faultproxy.FaultProxy``: a TCP proxy that adds latency, drops or refuses
  connections, hangs, or loses gRPC responses (in front of gRPC or PostgreSQL).
- ``faults.FaultInjector``: a server interceptor that fails or delays the next calls.
- ``certs.make_pki``: a CA, a server and client certificates for TLS/mTLS tests.
- ``echo`` and ``ledger``: tiny services to aim all that at.
"""
