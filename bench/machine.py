"""What the report records about the machine, the source tree and the binaries."""

import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _git(root, *args):
    try:
        return subprocess.run(["git", "-C", str(root)] + list(args), capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _mount(path):
    """(device, filesystem type) of the mount holding path, from /proc/self/mountinfo."""
    path = os.path.realpath(path)
    best = ("", "?", "?")
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, right = line.split(" - ", 1)
            mnt = left.split()[4]
            fstype, source = right.split()[:2]
            inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best[0]):
                best = (mnt, source, fstype)
    except (OSError, ValueError, IndexError):
        pass
    return best[1], best[2]


def describe(root, results_dir):
    disk = shutil.disk_usage(results_dir)
    device, fstype = _mount(results_dir)
    return {"disk_device": device, "disk_fs": fstype, "nproc": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "kernel": "%s %s" % (platform.system(), platform.release()),
            "mem_total_gib": _mem_total_gib(),
            "disk_free_gib": round(disk.free / 2**30, 1),
            "disk_total_gib": round(disk.total / 2**30, 1),
            "python": platform.python_version(),
            "git_commit": _git(root, "rev-parse", "--short=12", "HEAD"),
            "git_dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no"))}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ported_count(root, rust_lib):
    """(functions of upstream aof.c the Rust library defines, functions of upstream aof.c),
    if known: tests/aof-symbols.txt against the global text symbols of the archive."""
    symbols = root / "tests" / "aof-symbols.txt"
    try:
        wanted = set(symbols.read_text().split())
        nm = subprocess.run(["nm", "--defined-only", "-g", rust_lib], capture_output=True,
                            text=True, timeout=120)
    except (OSError, TypeError, subprocess.SubprocessError):
        return None
    if nm.returncode != 0:
        return None
    defined = {f[2] for f in (line.split() for line in nm.stdout.splitlines())
               if len(f) == 3 and f[1] == "T"}
    return (len(wanted & defined), len(wanted))
