#!/usr/bin/env bash
# The maintainer-request runbook (playbooks/remove.yml) as an operator runs it:
# it refuses to remove without confirmation, removes with it, prints a summary,
# and a second run changes nothing.
set -euxo pipefail
# the setup target is a role next to this one
export ANSIBLE_ROLES_PATH=..
set -- -e @../../integration_config.yml "$@"
inventory="${OUTPUT_DIR}/runbook-inventory.yml"
queue="ipc://$(sed -n 's/^piw_state_dir: //p' ../../integration_config.yml)/run/mr-chase/queue"
cat >"$inventory" <<INVENTORY
piwheels_master:
  hosts:
    testhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      mr_chase_import_queue: "$queue"
INVENTORY

ansible-playbook -i "${INVENTORY_PATH}" setup.yml "$@"
runbook() { ansible-playbook -i "$inventory" piwheels.ops.remove "$@"; }

# A request without versions is refused with a message that says what to give.
if runbook -e package=gamma "$@" >"${OUTPUT_DIR}/no-versions.out" 2>&1; then exit 1; fi
grep -q 'Give -e package=NAME and -e versions=all or a list' "${OUTPUT_DIR}/no-versions.out"

# Without confirm=yes and without a terminal to answer on, nothing is removed.
if runbook -e package=gamma -e '{"versions": ["1.0"]}' "$@" </dev/null >"${OUTPUT_DIR}/unconfirmed.out" 2>&1; then exit 1; fi
grep -q 'Not confirmed: nothing was removed' "${OUTPUT_DIR}/unconfirmed.out"
grep -q 'gamma-1.0-py3-none-any.whl' "${OUTPUT_DIR}/unconfirmed.out"
ansible-playbook -i "${INVENTORY_PATH}" check.yml -e package=gamma -e version=1.0 -e expect_files=2 "$@"

# Confirmed: removed, with a summary to paste into the request.
runbook -e package=gamma -e '{"versions": ["1.0"], "skip_reason": "https://example.org/issue/1"}' -e confirm=yes "$@" \
    | tee "${OUTPUT_DIR}/confirmed.out"
grep -q 'Removed from piwheels: gamma 1.0' "${OUTPUT_DIR}/confirmed.out"
grep -q '(1 builds, 2 files, 6 download records)' "${OUTPUT_DIR}/confirmed.out"
grep -q '1.0 will not be built again (https://example.org/issue/1)' "${OUTPUT_DIR}/confirmed.out"
ansible-playbook -i "${INVENTORY_PATH}" check.yml -e package=gamma -e version=1.0 -e expect_files=0 "$@"
ansible-playbook -i "${INVENTORY_PATH}" check.yml -e package=gamma -e version=1.1 -e expect_files=2 "$@"

# The same request again: nothing changes and the runbook says so.
runbook -e package=gamma -e '{"versions": ["1.0"], "skip_reason": "https://example.org/issue/1"}' -e confirm=yes "$@" \
    | tee "${OUTPUT_DIR}/again.out"
grep -qE 'testhost +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "${OUTPUT_DIR}/again.out"
grep -q 'already done' "${OUTPUT_DIR}/again.out"
