"""LD_PRELOAD libraries the reliability harnesses run a server under (a tracer of its
file-system calls, a journal of its fsyncs, a fault injector), compiled from their C
source with gcc when a run starts."""

import os
import subprocess


def build_preload(src, outdir, libs=("-ldl",)):
    """Compiles src (NAME.c) into outdir/NAME.so, a shared library for LD_PRELOAD, and
    returns its path; RuntimeError with gcc's messages if it does not compile."""
    os.makedirs(outdir, exist_ok=True)
    so = os.path.join(outdir, os.path.splitext(os.path.basename(src))[0] + ".so")
    r = subprocess.run(["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", so, src, *libs],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("building %s failed:\n%s" % (os.path.basename(so), r.stderr))
    return so
