"""What every Python harness of this repository (tests/, tests/reliability/, bench/) shares:
the RESP encoder and reply reader (resp), one client connection (client), the port a
server gets (ports), starting and stopping redis-server (server), the files it leaves
(files), and the stock/patched pair the differential tests run (pair).

Python standard library only. Nothing here puts itself on sys.path: the Makefile and
bench/run.sh export PYTHONPATH=tests/lib, and a harness run by hand needs the same
(`PYTHONPATH=tests/lib python3 tests/edge_cases.py ...`).
"""
