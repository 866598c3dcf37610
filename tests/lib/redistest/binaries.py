"""The binaries a harness runs: copied out of a build tree that someone may be relinking."""

import hashlib
import os
import shutil
import time


def _is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def snapshot_binaries(src_dir, dest_dir, names=("redis-server", "redis-check-aof"),
                      wait=300):
    """Copies the binaries to dest_dir, waiting while one is being relinked (size or
    mtime changing: others may rebuild the tree while this runs). Returns {name: path}
    and a short sha256 of the server."""
    os.makedirs(dest_dir, exist_ok=True)
    out = {}
    deadline = time.time() + wait
    for name in names:
        src = os.path.join(src_dir, name)
        if not os.path.exists(src):
            raise RuntimeError("%s is missing: build it first (make / make stock)" % src)
        while True:
            try:
                st1 = os.stat(src)
                time.sleep(0.5)
                st2 = os.stat(src)
                if (st1.st_size == st2.st_size and st1.st_mtime == st2.st_mtime
                        and st1.st_size > 0 and _is_elf(src) and os.access(src, os.X_OK)):
                    dst = os.path.join(dest_dir, name)
                    shutil.copy2(src, dst)
                    if os.path.getsize(dst) == st2.st_size:
                        out[name] = dst
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("%s missing or never stable" % src)
            time.sleep(2)
    h = hashlib.sha256()
    with open(out["redis-server"], "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return out, h.hexdigest()[:12]
