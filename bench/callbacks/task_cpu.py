# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback for bench/profile_register.py: wall time and CPU time of every task of a run (not shipped).

For each task, in order: its name, its wall time, the machine's busy CPU time (/proc/stat: every process, the
controller, the emulator, Docker and the hosts alike) and the CPU time of all Docker containers (their cgroups),
measured from the task's start to the next task's start. Written as JSON to $TASK_CPU_OUT when the run ends.
"""

from __future__ import annotations

import glob
import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_cpu
type: aggregate
short_description: Wall and CPU time of every task (benchmark aid)
description:
  - Writes the wall time, the machine's busy CPU time and the containers' CPU time of each task to $TASK_CPU_OUT.
"""

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # all but idle and iowait


def containers_seconds():
    """CPU time of every Docker container so far, from the cgroup v1 or v2 accounting files."""
    total = 0.0
    for path in glob.glob("/sys/fs/cgroup/cpuacct/docker/*/cpuacct.usage"):
        with open(path) as f:
            total += int(f.read()) / 1e9
    for path in glob.glob("/sys/fs/cgroup/system.slice/docker-*.scope/cpu.stat"):
        with open(path) as f:
            total += int(f.readline().split()[1]) / 1e6  # usage_usec
    return total


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_cpu"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.rows = []
        self.current = None
        self.start = self.sample()

    @staticmethod
    def sample():
        return {"wall": time.monotonic(), "busy": machine_busy_seconds(), "containers": containers_seconds()}

    def since(self, before):
        now = self.sample()
        return {key: now[key] - before[key] for key in now}

    def close_task(self):
        if self.current:
            name, before = self.current
            self.rows.append({"task": name, **self.since(before)})
            self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.close_task()
        self.current = (task.get_name(), self.sample())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self.close_task()
        total = self.since(self.start)
        with open(os.environ["TASK_CPU_OUT"], "w") as f:
            json.dump({"total": total, "tasks": self.rows}, f)
