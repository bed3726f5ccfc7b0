"""The live shell: the same sans-I/O core, driven by asyncio over real UDP sockets.

`endpoint.DatagramEndpoint` is the only place that reads a clock (`loop.time()`) or touches a
socket; it turns datagrams into `handle(...)` calls and arms one timer at `get_timer()`, as
aioquic's asyncio adapter does. `proxy_shell.ProxyShell` runs a preset's proxy that way and
delivers its pushes as SIP MESSAGE requests to a push gateway; `loopback_run` runs a whole
scenario (caller, devices, push gateway and proxy) live on loopback.
"""
