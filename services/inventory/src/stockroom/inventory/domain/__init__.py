"""The inventory domain: plain values and rules, no gRPC, no SQL."""
