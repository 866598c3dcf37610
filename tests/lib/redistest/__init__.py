"""What every Python harness of this repository (tests/, tests/reliability/, bench/) shares:
the RESP encoder and reply reader (resp), one client connection (client), the port a
server gets (ports), starting and stopping redis-server (server), the stock/patched pair
the differential tests run (pair), the files a server leaves (files), the binaries copied
out of a build tree (binaries) and the LD_PRELOAD shims (preload). tests/lib/README.md
says what each holds.

Python standard library only. Nothing here puts itself on sys.path: the Makefile and
bench/run.sh export PYTHONPATH=tests/lib, and a harness run by hand needs the same
(`PYTHONPATH=tests/lib python3 tests/edge_cases.py ...`).
"""
