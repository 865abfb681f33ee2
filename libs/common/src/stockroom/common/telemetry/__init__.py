"""OpenTelemetry for Stockroom: one trace per request across services and the database,
RPC and resilience metrics, and the SDK set up from the standard ``OTEL_*`` variables.

Services write no telemetry code: ``run_service`` configures the SDK
(``sdk``), ``GrpcServer`` installs the server span (``server``), ``connect``
the client span (``client``), ``create_engine`` the database spans
(``database``); breakers, budgets and shedding are observed (``resilience``).
A service publishes its own gauges with ``gauges``. ``receiver`` and
``summary`` show a trace on a console without a collector (``stockroom dev up``).

Import from the modules; this package re-exports nothing.
"""
