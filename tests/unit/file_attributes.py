# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host modules' unit tests read back from the files a module wrote (never following a link)."""

from __future__ import annotations

import os
import stat


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner_of(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def read(path):
    with open(path, "rb") as f:
        return f.read()
