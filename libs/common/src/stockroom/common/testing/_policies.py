"""The client policy of tests that prove what a server answers, not how fast.

The default policy gives a call 2 s, which a busy 2-core machine running a whole
suite can miss for a call that reaches a database (a first connection through a
pooler, a quote that also asks inventory). A test that times out there proves
nothing about the server, so such tests call with a deadline only a hung server
misses, and without a breaker that would turn one slow answer into fast failures.
Tests about deadlines set their own.
"""

from __future__ import annotations

from stockroom.common.client import Policy

PATIENT_POLICY = Policy(timeout_s=120.0, breaker=None)
