"""The pricing domain: money, tiers, price versions, promotions and quotes.

Plain Python: no gRPC, no SQL. Every amount is an int of minor units.
"""
