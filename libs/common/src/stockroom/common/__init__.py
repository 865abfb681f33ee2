"""What every Stockroom service and client shares, in subpackages with small public APIs.

``client`` (``connect``), ``server`` (``GrpcServer``, ``run_service``),
``errors`` (the error model), ``contract`` (identifier and limit rules the
services share), ``db`` (extra ``db``), ``telemetry`` (the SDK needs extra
``telemetry``) and ``testing``. Import from those packages; the modules behind
them (``_name.py``) are private. This package re-exports nothing, so
importing it stays cheap and free of side effects.
"""
