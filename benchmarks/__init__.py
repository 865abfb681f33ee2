"""Benchmarks: throughput and latency of our RPCs as ratios against a bare gRPC echo server.

Absolute numbers depend on the machine; a ratio against a bare ``grpc.aio``
echo server measured in the same run, by the same load generator, says how
much our stack and our database work cost. Run with ``make bench``;
``python -m benchmarks.roundtrips`` counts the database round trips of each
RPC. Results and method: docs/performance.md.
"""
