# Copyright: fleet.ecs_anywhere contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from ansible_collections.fleet.ecs_anywhere.plugins.filter.python_refusal import FilterModule

python_refusal = FilterModule().filters()["python_refusal"]

SLES_15_SP6 = 'NAME="SLES"\nVERSION="15-SP6"\nVERSION_ID="15.6"\nID="sles"\nID_LIKE="suse"\n'
LEAP_15_6 = 'NAME="openSUSE Leap"\nVERSION_ID="15.6"\nID="opensuse-leap"\n'
ROCKY_8 = 'NAME="Rocky Linux"\nVERSION_ID="8.10"\nID="rocky"\n'
DEBIAN_12 = 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


def test_suse_on_python_3_6_is_told_to_install_python311():
    for os_release, label in ((SLES_15_SP6, "SUSE Linux Enterprise Server 15.6"), (LEAP_15_6, "openSUSE Leap 15.6")):
        reason = python_refusal("PYTHON_VERSION=3.6\n" + os_release, interpreter="/usr/bin/python3")
        assert f"this {label} host" in reason
        assert "/usr/bin/python3 is Python 3.6" in reason
        assert "install SUSE's python311" in reason
        assert "ansible_python_interpreter to /usr/bin/python3.11" in reason
        assert reason.endswith("nothing was changed on the host.")


def test_a_recent_python_is_not_the_cause():
    assert python_refusal("PYTHON_VERSION=3.8\n" + SLES_15_SP6) == ""
    assert python_refusal("PYTHON_VERSION=3.11\n" + DEBIAN_12) == ""


def test_a_release_the_collection_refuses_keeps_its_own_reason():
    reason = python_refusal("PYTHON_VERSION=3.6\n" + ROCKY_8)
    assert "ansible/ansible#83357" in reason
    assert "Upgrade the host to Rocky Linux 9 or later" in reason


def test_no_python_at_all_and_an_unknown_distribution():
    reason = python_refusal('NAME="Gentoo"\nID=gentoo\n', interpreter="python3")
    assert "interpreter python3 is no working Python" in reason
    assert "install Python 3.8 or later and set ansible_python_interpreter" in reason
    reason = python_refusal("PYTHON_VERSION=2.7\n" + DEBIAN_12)
    assert "Debian 12 host" in reason and "Python 2.7" in reason
