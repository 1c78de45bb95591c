"""Stand-in for ansible-test's downloaded get-pip.py bootstrap script.

ansible-test fetches get-pip from ci-files.testing.ansible.com, which our machines cannot reach. This does the
same job with the standard library's ensurepip and then lets pip install the packages ansible-test asked for
(pip==X and friends) from PyPI, which is reachable.
"""

import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
