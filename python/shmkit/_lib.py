"""Loading libshmq, the C implementation of the queue and of a topic's
subscriber, through ctypes.

The library comes from this repository's c/ directory. It is looked for,
in order, at $SHMKIT_LIB, at c/libshmq.so (what ``make -C c`` builds) and
at c/build/libshmq.so (or $SHMKIT_BUILD_DIR/libshmq.so); when none is there
or the sources are newer, it is built into the last of them with gcc on
first use (``gcc -std=c11 -O2 -fPIC -shared -o c/build/libshmq.so c/shmq.c``).
"""

import ctypes
import os
import shutil
import subprocess
import threading
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_SRC = _ROOT / "c" / "shmq.c"
_HDR = _ROOT / "c" / "shmq.h"

_lock = threading.Lock()
_lib = None


class BuildError(RuntimeError):
    """libshmq is missing and could not be built."""


def _fresh(lib):
    try:
        t = lib.stat().st_mtime
    except OSError:
        return False
    try:
        return t >= max(_SRC.stat().st_mtime, _HDR.stat().st_mtime)
    except OSError:
        return True  # no sources next to it: an installed copy


def _build(out):
    gcc = shutil.which(os.environ.get("CC", "gcc"))
    if gcc is None:
        raise BuildError(
            "libshmq is not built and gcc is not on PATH: run `make -C c` in "
            f"{_ROOT}, or set SHMKIT_LIB to a built libshmq.so")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cmd = [gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-fPIC", "-shared",
           "-o", str(tmp), str(_SRC)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise BuildError(f"building libshmq failed: {' '.join(cmd)}\n{r.stderr}")
    os.replace(tmp, out)


def path():
    """Returns the path of libshmq.so, building it first if needed."""
    env = os.environ.get("SHMKIT_LIB")
    if env:
        return Path(env)
    made = _ROOT / "c" / "libshmq.so"
    if _fresh(made):
        return made
    build = Path(os.environ.get("SHMKIT_BUILD_DIR") or _ROOT / "c" / "build")
    lib = build / "libshmq.so"
    if not _fresh(lib):
        _build(lib)
    return lib


def lib():
    """Returns the loaded library, with its functions' signatures set."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = _declare(ctypes.CDLL(str(path())))
        return _lib


def _declare(l):
    c_int, c_size, c_i64, c_u64, c_u32 = (ctypes.c_int, ctypes.c_size_t,
                                          ctypes.c_int64, ctypes.c_uint64,
                                          ctypes.c_uint32)
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    pp = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "shmq_create": (c_int, [cp, c_u64, vp, pp]),
        "shmq_open": (c_int, [cp, cp, pp]),
        "shmq_unlink": (c_int, [cp, cp]),
        "shmq_send": (c_int, [vp, vp, c_size, c_i64]),
        "shmq_send_packed": (c_int, [vp, vp, vp, c_size, c_i64,
                                     ctypes.POINTER(c_size)]),
        "shmq_reserve": (c_int, [vp, c_size, c_i64, pp]),
        "shmq_commit": (c_int, [vp]),
        "shmq_peek": (c_int, [vp, c_i64, pp, ctypes.POINTER(c_size)]),
        "shmq_peek_batch": (c_int, [vp, c_i64, vp, c_size, c_size,
                                    ctypes.POINTER(c_size)]),
        "shmq_release": (c_int, [vp]),
        "shmq_ring": (vp, [vp]),
        "shmq_close": (c_int, [vp]),
        "shmq_detach": (c_int, [vp]),
        "shmq_abort": (c_int, [vp]),
        "shmq_capacity": (c_u64, [vp]),
        "shmq_max_message": (c_u32, [vp]),
        "shmq_is_multi_producer": (c_int, [vp]),
        "shmq_id": (None, [vp, ctypes.c_char_p]),
        "shmt_open": (c_int, [cp, cp, pp]),
        "shmt_subscribe": (c_int, [vp]),
        "shmt_receive": (c_int, [vp, vp, c_size, ctypes.POINTER(c_size), c_i64]),
        "shmt_missed": (c_u64, [vp]),
        "shmt_sequence": (c_u64, [vp]),
        "shmt_close": (c_int, [vp]),
        "shmt_capacity": (c_u64, [vp]),
        "shmt_max_message": (c_u32, [vp]),
        "shmt_max_subscribers": (c_u32, [vp]),
        "shmt_is_overwrite": (c_int, [vp]),
        "shmt_id": (None, [vp, ctypes.c_char_p]),
        "shmq_strerror": (cp, [c_int]),
        "shmq_last_error": (cp, []),
    }
    for name, (res, args) in sigs.items():
        f = getattr(l, name)
        f.restype, f.argtypes = res, args
    return l


class Options(ctypes.Structure):
    """shmq_options of shmq.h."""
    _fields_ = [("max_message", ctypes.c_uint32),
                ("multi_producer", ctypes.c_int),
                ("mode", ctypes.c_uint32),
                ("dir", ctypes.c_char_p)]
