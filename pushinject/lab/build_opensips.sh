#!/bin/sh
# Build OpenSIPS 3.x from a source tree and install it for the capture lab.
#
#   pushinject/lab/build_opensips.sh SRC_DIR [PREFIX]
#
# SRC_DIR is an unpacked OpenSIPS 3.x source tree (a release tag, e.g. 3.6.8); PREFIX defaults
# to /usr/local, which puts `opensips` on PATH as $PREFIX/sbin/opensips. The prefix is compiled
# into the binary (default module path and config file), so build and install with the same one.
#
# Only the core and the modules the lab's config loads are built (see pushinject/lab/opensips.cfg):
# the seed's route_to_user/fork_call need tm (t_newtran, t_wait_for_new_branches,
# t_inject_branches, t_relay, t_new_request for the push), event_routing (notify_on_event),
# usrloc and registrar (save, lookup, the E_UL_CONTACT_INSERT event), signaling and sl (replies),
# maxfwd, rr, textops, sipmsgops and cfgutils; auth challenges one user's REGISTERs (the lab's
# 401 scenario); proto_hep and tracer mirror the traffic as HEP (`pushinject lab --hep`). UDP is
# a built-in transport (proto_udp) in 3.x, so it needs no module.
#
# Build tools: gcc, make, bison and flex from Debian; when one is missing it is installed with
# apt-get (root). Nothing else is needed for these modules. JOBS sets make's parallelism (2).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 SRC_DIR [PREFIX]" >&2
	exit 2
fi
src=$1
prefix=${2:-/usr/local}
jobs=${JOBS:-2}
modules="tm sl signaling registrar usrloc event_routing maxfwd rr textops sipmsgops cfgutils auth proto_hep tracer"

if [ ! -f "$src/Makefile" ] || [ ! -f "$src/cfg.y" ] || [ ! -d "$src/modules/tm" ]; then
	echo "$0: $src is not an OpenSIPS source tree (no Makefile, cfg.y, modules/tm)" >&2
	exit 2
fi

missing=""
for tool in gcc make bison flex; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "installing missing build tools:$missing"
	apt-get install -y --no-install-recommends $missing
fi

cd "$src"
# make app and make modules read the same PREFIX, so the paths compiled in match the install.
make -j"$jobs" PREFIX="$prefix" app
make -j"$jobs" PREFIX="$prefix" module="$modules" modules
make PREFIX="$prefix" module="$modules" install-bin install-modules
"$prefix/sbin/opensips" -V
