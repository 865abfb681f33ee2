"""Use cases: validate what the wire cannot, read, decide with the domain, apply."""
