"""The live shell: the same sans-I/O core, driven by asyncio over real sockets.

`endpoint.DatagramEndpoint` turns datagrams into `handle(...)` calls and arms one timer at
`get_timer()`, as aioquic's asyncio adapter does; with `connections.ConnectionTable` (TCP and
TLS streams framed into messages, rules CONN-1 to CONN-10) these are the only places that read a
clock (`loop.time()`) or touch a socket. `proxy_shell.ProxyShell` runs a preset's proxy that way
over UDP, TCP and TLS (`listen.py` reads the listening addresses, `tls.py` makes the TLS
contexts) and delivers its pushes as SIP MESSAGE requests to a push gateway; `loopback_run`
runs a whole scenario (caller, devices, push gateway and proxy) live on loopback.
"""
