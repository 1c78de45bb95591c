"""Write the Ansible inventory of an offline test world (the demo, the end-to-end tests and the benchmark).

python -m tests.demo.inventory --world demo --out build/demo/inventory.yml [--cluster demo]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import jinja2

from tests import harness

TEMPLATE = Path(__file__).with_name("inventory.yml.j2")
DEFAULT_ATTRIBUTES = {"site": "lab", "rack": "r1"}
DEFAULT_TAGS = {"team": "platform", "env": "demo"}


def load_world(name: str) -> harness.World:
    """Read a world's state file, keeping only the World fields (the file also holds derived values)."""
    path = harness.STATE_DIR / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"no world named {name} is up ({path} is missing)")
    data = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(harness.World)}
    return harness.World(**{k: v for k, v in data.items() if k in fields})


def render(
    world: harness.World,
    *,
    hosts: list[str] | None = None,
    cluster: str = "demo",
    report_path: str | Path,
    ecs_version: str | None = None,
    attributes: dict | None = None,
    tags: dict | None = None,
    host_vars: dict[str, dict] | None = None,
) -> str:
    """The inventory, as YAML. ``host_vars`` (host -> variables) go on the hosts that have some (a mixed fleet's
    per-family settings); hosts without any are written as before."""
    template = jinja2.Template(TEMPLATE.read_text(), keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return template.render(
        world=world.describe() | {"region": world.region},
        hosts=hosts if hosts is not None else world.hosts,
        cluster=cluster,
        report_path=str(report_path),
        ecs_version=ecs_version,
        attributes=DEFAULT_ATTRIBUTES if attributes is None else attributes,
        tags=DEFAULT_TAGS if tags is None else tags,
        # JSON is YAML: one flow mapping per host, on the host's line.
        host_vars={host: json.dumps(variables) for host, variables in (host_vars or {}).items() if variables},
    )


def write(world: harness.World, out: Path, **kwargs) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("report_path", out.parent / "fleet")
    out.write_text(render(world, **kwargs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cluster", default="demo")
    parser.add_argument("--report-path")
    args = parser.parse_args()
    world = load_world(args.world)
    path = write(world, args.out, cluster=args.cluster, report_path=args.report_path or args.out.parent / "fleet")
    print(path)


if __name__ == "__main__":
    main()
