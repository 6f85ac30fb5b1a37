#!/usr/bin/env bash
# The mr_chase role end to end: it deploys a Mr Chase that answers, a second
# run changes nothing, a changed setting restarts the service and takes
# effect, and the systemd unit it writes passes systemd-analyze verify.
set -euxo pipefail
# the setup target is a role next to this one
export ANSIBLE_ROLES_PATH=..
# ansible-test runs this from the target directory and passes the inventory in
# INVENTORY_PATH; the settings `make integration` wrote are two levels up.
set -- -i "${INVENTORY_PATH}" -e @../../integration_config.yml "$@"


ansible-playbook deploy.yml "$@"
ansible-playbook redeploy.yml "$@" | tee "${OUTPUT_DIR}/redeploy.out"
grep -qE 'testhost +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "${OUTPUT_DIR}/redeploy.out"
ansible-playbook verify.yml "$@"
ansible-playbook change_settings.yml "$@"
ansible-playbook bad_settings.yml "$@"
ansible-playbook unit.yml "$@"
