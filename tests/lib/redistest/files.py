"""The files a server leaves: where its AOF is, and what a directory holds."""

import hashlib
import os
import shutil


def aof_dir(workdir):
    """The appendonlydir of a server whose dir is workdir (upstream's default name)."""
    return os.path.join(workdir, "appendonlydir")


def aof_files(workdir):
    """{name: bytes} of every file in workdir's appendonlydir."""
    d = aof_dir(workdir)
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out[name] = f.read()
    return out


def base_file(workdir):
    """(name, bytes) of the one BASE file in workdir's appendonlydir."""
    d = aof_dir(workdir)
    bases = [n for n in os.listdir(d) if ".base." in n]
    assert len(bases) == 1, bases
    with open(os.path.join(d, bases[0]), "rb") as f:
        return bases[0], f.read()


def dir_hash(path):
    """{relative path: (size, sha256)} of every file under path."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            rel = os.path.relpath(p, path)
            h = hashlib.sha256()
            try:
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = (os.path.getsize(p), h.hexdigest())
            except OSError as e:
                out[rel] = (-1, str(e))
    return out


def copy_dir(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
