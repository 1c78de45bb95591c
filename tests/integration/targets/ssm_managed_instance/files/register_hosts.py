# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Register hosts as managed instances the way amazon-ssm-agent does, against the emulator.

Per host: RegisterManagedInstance (unsigned, fresh RSA key) -> RequestManagedInstanceRoleToken
(RSA-PSS signed) -> UpdateInstanceInformation heartbeat (SigV4 with the role credentials), so the
instance is Online and reports ComputerName/IPAddress like a real agent.

The activation code is read from stdin (first line) so it never shows in the process list.
Reads EMULATOR_URL (or AWS_ENDPOINT_URL) and AWS_REGION; prints {"instance_ids": [...]}.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", ".."))
sys.path.insert(0, REPO)

from tests.emulator import agent_protocol  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activation-id", required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--name-prefix", default="host", help="ComputerName is <prefix>-<n>")
    parser.add_argument("--no-heartbeat", action="store_true", help="leave the instances ConnectionLost")
    args = parser.parse_args()
    code = sys.stdin.readline().strip()
    url = os.environ.get("EMULATOR_URL") or os.environ["AWS_ENDPOINT_URL"]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def one(n):
        identity = agent_protocol.register(url, args.activation_id, code, region=region)
        if not args.no_heartbeat:
            creds = agent_protocol.request_role_token(url, identity)
            agent_protocol.update_instance_information(
                url, identity, creds, ComputerName=f"{args.name_prefix}-{n}", IPAddress=f"192.0.2.{n % 250 + 1}"
            )
        return identity.instance_id

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, args.count)) as pool:
            ids = list(pool.map(one, range(1, args.count + 1)))
    except agent_protocol.AgentProtocolError as exc:
        print(json.dumps({"error": exc.code, "message": exc.message}))
        return 1
    print(json.dumps({"instance_ids": ids}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
