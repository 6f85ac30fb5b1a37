"""Offline stand-in for the get-pip.py script that ``ansible-test --venv`` downloads.

ansible-test bootstraps pip in each virtual environment it makes by running a
get-pip script cached at ~/.ansible/test/cache/get_pip_<version>.py, fetched
from a host that machines without internet access cannot reach.  This script
does the same job with what Python already ships: ``ensurepip`` puts pip in the
environment, then pip installs the requested pip version (and the other
packages ansible-test asked for) through the machine's usual package index.

The Makefile copies it into the cache only when no real script is cached, so a
machine with internet access keeps using the official one.
"""

import ensurepip
import os
import subprocess
import sys

# Options of get-pip.py that plain ``pip install`` does not accept.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    ensurepip.bootstrap()
    # ensurepip points PIP_CONFIG_FILE at /dev/null, which would hide the
    # machine's pip settings (index, mirrors) from the install below.
    os.environ.pop("PIP_CONFIG_FILE", None)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    sys.exit(main())
