# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared base for the collection's AWS modules."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.common import set_collection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

COLLECTION_NAME = "fleet.ecs_anywhere"
COLLECTION_VERSION = "0.1.0"

# Throttling on SSM and ECS shows up under several codes; the default list of
# AWSRetry misses the SSM-specific one.
EXTRA_RETRY_CODES = ["TooManyUpdates", "ThrottlingException", "Throttling", "RequestLimitExceeded"]


def retry_decorator():
    """Jittered backoff used by every client of this collection."""
    return AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=20, catch_extra_error_codes=EXTRA_RETRY_CODES)


class FleetAWSModule(AnsibleAWSModule):
    """AnsibleAWSModule that names this collection in the botocore user agent."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        set_collection_info(collection_name=COLLECTION_NAME, collection_version=COLLECTION_VERSION)

    def retrying_client(self, service):
        """Client whose calls retry throttling when made with ``aws_retry=True``."""
        return self.client(service, retry_decorator=retry_decorator())
