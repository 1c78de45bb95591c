# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writers of a managed host's files, shared by the converge_record and ecs_agent_config modules.

Files are replaced whole through a temporary file in the same directory, so a reader sees the old content or the
new, never part of one, and a file meant for root alone is never readable by others, not even for a moment.
"""

from __future__ import annotations

import os
import stat
import tempfile


def existing(path, follow=False):
    """The stat of path, or None when it does not exist (or a file stands where a parent directory should)."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def root_owner():
    """(uid, gid) the files must have: root's when the module runs as root; None (left alone) otherwise."""
    return (0, 0) if os.geteuid() == 0 else None


def drifted(st, mode, owner):
    return stat.S_IMODE(st.st_mode) != mode or (owner is not None and (st.st_uid, st.st_gid) != owner)


def set_attributes(path, mode, owner):
    if owner is not None:
        os.chown(path, *owner)
    os.chmod(path, mode)


def write_atomically(module, path, data, mode, owner):
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        set_attributes(tmp, mode, owner)
        # atomic_move gives a file it creates the mode the umask allows until ours is set again below; with a strict
        # umask the content is never readable by others, not even for that moment. The old file's attributes are
        # not carried over: a file with the wrong mode is rewritten with the right one.
        umask = os.umask(0o077)
        try:
            module.atomic_move(tmp, path, keep_dest_attrs=False)
        finally:
            os.umask(umask)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    set_attributes(path, mode, owner)
