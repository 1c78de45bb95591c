#!/usr/bin/python

# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_agent_registration
version_added: 0.1.0
short_description: Register the host's Amazon SSM agent with a hybrid activation
description:
  - Runs on the managed host. Registers the installed Amazon SSM agent as a managed instance of Systems Manager in
    O(region) with a hybrid activation (see M(fleet.ecs_anywhere.ssm_activation)), in one remote call.
  - Reads the current registration from O(registration_file) (C(ManagedInstanceID) and C(Region)), falling back to
    the C(instanceID) and C(region) fields of the agent's vault entry C(Vault/Store/RegistrationKey) in the same
    directory, as M(fleet.ecs_anywhere.host_info) does. A missing or unreadable file is no registration. No other
    field of the vault entry is ever read into the result; in particular the private key is not.
  - A host registered in O(region) is left alone unless O(force). A host registered in another region is refused
    unless O(force).
  - Otherwise stops the agent's systemd unit O(service), runs C(<agent> -register -code ... -id ... -region ...)
    (with C(-y) when O(force)) and reads the new managed instance id from O(registration_file).
  - Does not start the agent again; start it afterwards (the C(fleet.ecs_anywhere.ssm_agent) role does), so that
    configuration written in the same run is loaded with the new registration.
  - The activation code never appears in the result, in messages or in the output of the agent that the module
    returns; it is replaced by C(<activation code>).
options:
  region:
    description:
      - AWS region to register the host in, the region of the activation, for example V(us-east-1).
    type: str
    required: true
  activation_id:
    description:
      - Id of the hybrid activation.
      - Required when the host has to be registered.
    type: str
    default: ''
  activation_code:
    description:
      - Code of the hybrid activation.
      - Required when the host has to be registered.
    type: str
    default: ''
  force:
    description:
      - Register again even when the host is registered in O(region), or move a host registered in another region.
      - Runs the agent's C(-register) with C(-y); uses one more activation slot and leaves the old managed instance to
        deregister.
    type: bool
    default: false
  agent:
    description:
      - Path of the SSM agent executable.
    type: path
    default: /usr/bin/amazon-ssm-agent
  registration_file:
    description:
      - The registration file the agent writes, JSON with C(ManagedInstanceID) and C(Region).
    type: path
    default: /var/lib/amazon/ssm/registration
  service:
    description:
      - The agent's systemd unit, stopped while the agent registers. A unit that systemd does not know is taken as
        already stopped.
    type: str
    default: amazon-ssm-agent
author:
  - Fleet ECS Anywhere maintainers (@fleet)
notes:
  - Supports check mode. Nothing is stopped or run; the result tells whether a real run would register the host.
  - Supports diff mode. The diff shows the managed instance id and region, before and after.
  - Linux with systemd only.
seealso:
  - module: fleet.ecs_anywhere.ssm_activation
  - module: fleet.ecs_anywhere.host_info
"""

EXAMPLES = r"""
- name: Register the host unless it is registered in the region
  fleet.ecs_anywhere.ssm_agent_registration:
    region: us-east-1
    activation_id: "{{ activation.activation.activation_id }}"
    activation_code: "{{ activation.activation_code }}"
  register: ssm_registration

- name: Start the agent with its new registration
  ansible.builtin.systemd_service:
    name: amazon-ssm-agent
    state: started
    enabled: true

- name: Move a host registered in another region
  fleet.ecs_anywhere.ssm_agent_registration:
    region: eu-west-1
    activation_id: "{{ eu_activation_id }}"
    activation_code: "{{ eu_activation_code }}"
    force: true
"""

RETURN = r"""
managed_instance_id:
  description:
    - The managed instance id the host is registered as when the module returns.
    - In check mode, the current one (empty when the host is not registered), since Systems Manager assigns the new
      id only when the host registers.
  returned: always
  type: str
  sample: mi-0123456789abcdef0
region:
  description:
    - The region the host is registered in when the module returns.
    - In check mode, the current one (empty when the host is not registered).
  returned: always
  type: str
  sample: us-east-1
previous_managed_instance_id:
  description: The managed instance id the host was registered as before the module ran, empty when it was not.
  returned: always
  type: str
  sample: mi-0fedcba9876543210
previous_region:
  description: The region the host was registered in before the module ran, empty when it was not.
  returned: always
  type: str
  sample: us-west-2
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import read_json
from ansible_collections.fleet.ecs_anywhere.plugins.module_utils.host_state import registration_in

CODE_PLACEHOLDER = "<activation code>"
# "Unit ... not loaded": systemd does not know the unit, so no agent runs that could hold on to the old identity.
SYSTEMCTL_NO_SUCH_UNIT_RC = 5
NO_SUCH_UNIT_RE = re.compile(r"not loaded|not found|does not exist", re.IGNORECASE)
# Only in the diff of a check-mode run: Systems Manager assigns the id when the host registers.
NEW_ID_PLACEHOLDER = "(assigned by Systems Manager at registration)"


def read_registration(registration_file):
    """(managed instance id, region) the agent is registered as, ('', '') when it is not."""
    found = registration_in(registration_file)
    return str(found["managed_instance_id"] or ""), str(found["region"] or "")


class Registration:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.code = module.params["activation_code"]

    def scrub(self, text):
        return text.replace(self.code, CODE_PLACEHOLDER) if self.code else text

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=self.scrub(msg), **kwargs)

    def stop_service(self):
        service = self.params["service"]
        systemctl = self.module.get_bin_path("systemctl", required=True)
        rc, out, err = self.module.run_command([systemctl, "stop", service])
        if rc != 0 and not (rc == SYSTEMCTL_NO_SUCH_UNIT_RC or NO_SUCH_UNIT_RE.search(err)):
            self.fail(
                f"Unable to stop {service} before registering the host with Systems Manager: systemctl exited with "
                f"{rc}: {(err or out).strip()}",
                rc=rc,
            )

    def register(self):
        params = self.params
        agent = params["agent"]
        activation_id = params["activation_id"]
        region = params["region"]
        argv = [agent, "-register", "-code", self.code, "-id", activation_id, "-region", region]
        if params["force"]:
            # Without it the agent asks on stdin whether to replace the registration it has, and gives up.
            argv.append("-y")
        try:
            rc, out, err = self.module.run_command(argv, handle_exceptions=False)
        except Exception as e:  # pylint: disable=broad-except
            # run_command's own failure would name the whole command line, the code included.
            self.fail(f"Unable to run {agent} to register the host with Systems Manager: {e}")
            return None
        output = self.scrub(f"{out} {err}").strip()
        if rc != 0:
            self.fail(
                f"Unable to register the host with Systems Manager (activation {activation_id}, region {region}): "
                f"{output}. Check that the activation exists in this region, has not expired, has registrations left "
                "and that the code matches; fix ecs_anywhere_activation_id/ecs_anywhere_activation_code and run "
                "again.",
                rc=rc,
            )
        return output

    def run(self):
        module = self.module
        params = self.params
        region = params["region"]
        registration_file = params["registration_file"]

        before_id, before_region = read_registration(registration_file)
        registered_here = bool(before_id) and before_region == region
        result = dict(
            changed=False,
            managed_instance_id=before_id,
            region=before_region,
            previous_managed_instance_id=before_id,
            previous_region=before_region,
        )

        if registered_here and not params["force"]:
            self.finish(result, dict(managed_instance_id=before_id, region=before_region))
        if before_id and not registered_here and not params["force"]:
            self.fail(
                f"This host is registered with Systems Manager as {before_id} in region "
                f"{before_region or '(unknown)'}, not in {region}. Set force (ecs_anywhere_ssm_force_register with "
                f"the fleet.ecs_anywhere roles) to true to register it again in {region} (this uses an activation "
                "slot; deregister the old managed instance afterwards).",
                **result,
            )
        if not params["activation_id"] or not self.code:
            self.fail(
                f"Registering the host with Systems Manager in {region} needs a hybrid activation: set activation_id "
                "and activation_code (ecs_anywhere_activation_id and ecs_anywhere_activation_code with the "
                "fleet.ecs_anywhere roles; create one with fleet.ecs_anywhere.ssm_activation).",
                **result,
            )

        if module.check_mode:
            result["changed"] = True
            self.finish(result, dict(managed_instance_id=NEW_ID_PLACEHOLDER, region=region))

        agent = params["agent"]
        # Checked before the agent is stopped, so that a host without the agent is left as it was.
        if not (os.path.isfile(agent) and os.access(agent, os.X_OK)):
            self.fail(
                f"The SSM agent {agent} (option agent) is missing or not executable: install the amazon-ssm-agent "
                "package before registering the host.",
                **result,
            )
        self.stop_service()
        output = self.register()

        # Only the file the agent has just written tells the new id; a vault entry may be the old registration.
        data = read_json(registration_file)
        if not (isinstance(data, dict) and data.get("ManagedInstanceID")):
            self.fail(
                f"{agent} -register succeeded, but {registration_file} holds no ManagedInstanceID afterwards, so the "
                f"new managed instance id is unknown. The agent said: {output or '(nothing)'}",
                **result,
            )
        new_id = str(data["ManagedInstanceID"])
        result.update(changed=True, managed_instance_id=new_id, region=region)
        self.finish(result, dict(managed_instance_id=new_id, region=region))

    def finish(self, result, after):
        if self.module._diff:
            result["diff"] = dict(
                before=dict(
                    managed_instance_id=result["previous_managed_instance_id"], region=result["previous_region"]
                ),
                after=after,
            )
        self.module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            region=dict(type="str", required=True),
            activation_id=dict(type="str", default=""),
            activation_code=dict(type="str", default="", no_log=True),
            force=dict(type="bool", default=False),
            agent=dict(type="path", default="/usr/bin/amazon-ssm-agent"),
            registration_file=dict(type="path", default="/var/lib/amazon/ssm/registration"),
            service=dict(type="str", default="amazon-ssm-agent"),
        ),
        supports_check_mode=True,
    )
    Registration(module).run()


if __name__ == "__main__":
    main()
