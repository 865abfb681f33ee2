"""The gRPC face of pricing: proto messages to domain values and back, and the servicer."""
