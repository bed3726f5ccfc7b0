"""The sans-I/O reference core: events in, actions out, `now` passed in, identifiers injected.

Nothing in this package reads a clock, draws random numbers, or touches a socket or file; it
imports neither scapy nor networkx.
"""
