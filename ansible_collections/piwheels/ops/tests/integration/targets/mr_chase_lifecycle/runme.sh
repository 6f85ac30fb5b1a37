#!/usr/bin/env bash
# The mr_chase role's life cycle: mr_chase_state absent removes the deployment
# (changed once, then nothing to do) and leaves the logs alone, a second
# deployment works; a stray file in the installed package is removed and a venv
# made by another Python is made again, each once; the distribution's Python
# runs the modules after the role; logrotate accepts the snippet and Mr Chase
# follows a rotation; the unit's systemd-analyze exposure stays <= 2.0.
set -euxo pipefail
# the setup target is a role next to this one
export ANSIBLE_ROLES_PATH=..
# ansible-test passes the inventory in INVENTORY_PATH; `make integration` wrote the settings two levels up
set -- -i "${INVENTORY_PATH}" -e @../../integration_config.yml "$@"
unchanged() { grep -qE 'testhost +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "${OUTPUT_DIR}/$1.out"; }
changed() { grep -qE 'testhost +: ok=[0-9]+ +changed=[1-9][0-9]* +unreachable=0 +failed=0' "${OUTPUT_DIR}/$1.out"; }
run() { local name=$1; shift; ansible-playbook "$@" | tee "${OUTPUT_DIR}/${name}.out"; }

# A fresh deployment, and a removal so that the audit log holds a line.
ansible-playbook deploy.yml "$@"

# Removed: changed; removed again: nothing to do; nothing left but the logs.
run remove remove.yml "$@"
changed remove
grep -A1 'TASK \[piwheels.ops.mr_chase : Stop the supervised process\]' "${OUTPUT_DIR}/remove.out" \
    | grep -q 'changed: \[testhost\]'
run remove-again remove.yml "$@"
unchanged remove-again
ansible-playbook gone.yml "$@"

# Deployed again, it answers (the role waits for PING; the check asks for a package).
run redeploy redeploy.yml "$@"
changed redeploy
run redeploy-again redeploy.yml "$@"
unchanged redeploy-again

# A file the release does not ship is removed from the package directory, once.
run stray stray.yml "$@"
grep -A3 'TASK \[piwheels.ops.mr_chase : Remove files the release does not ship\]' "${OUTPUT_DIR}/stray.out" \
    | grep -q 'changed: \[testhost\] => (item=obsolete.py)'
run stray-again redeploy.yml "$@"
unchanged stray-again

# A venv another Python made is made again, once.
run python-upgrade python_upgrade.yml "$@"
grep -A2 'TASK \[piwheels.ops.mr_chase : Remove a virtual environment another Python made\]' \
    "${OUTPUT_DIR}/python-upgrade.out" | grep -q 'changed: \[testhost\]'
run python-upgrade-again redeploy.yml "$@"
unchanged python-upgrade-again

# With only the distribution's Python running the modules, the role gives it pyzmq and a module answers.
run system-python system_python.yml "$@"
run system-python-again redeploy.yml "$@"
unchanged system-python-again

ansible-playbook logrotate.yml "$@"
ansible-playbook unit_security.yml "$@"
