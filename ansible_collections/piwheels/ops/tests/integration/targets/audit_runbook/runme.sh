#!/usr/bin/env bash
# The audit runbook (playbooks/audit.yml) as an operator runs it, on a master
# whose gamma is damaged for real (tasks/damage.yml of the piw_audit target):
# --check asks nothing and repairs nothing but writes the report (JSON,
# Markdown) and the metrics; without confirmation nothing is repaired; with it
# the damage is repaired and the summary says so; a second run repairs nothing.
set -euxo pipefail
export ANSIBLE_ROLES_PATH=..
config="$(realpath ../../integration_config.yml)"
set -- -e "@${config}" "$@"
inventory="${OUTPUT_DIR}/audit-inventory.yml"
state_dir="$(sed -n 's/^piw_state_dir: //p' "$config")"
python="$(sed -n 's/^piw_testbed_python: //p' "$config")"
output_path="${state_dir}/www-piwheels"
orphan="${output_path}/simple/gamma/gamma-1.0-py3-none-any.whl"
reports="${OUTPUT_DIR}/reports"
metrics_file="${OUTPUT_DIR}/metrics/piwheels_audit.prom"
cat >"$inventory" <<INVENTORY
piwheels_master:
  hosts:
    testhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      mr_chase_import_queue: "ipc://${state_dir}/run/mr-chase/queue"
INVENTORY

ansible-playbook -i "${INVENTORY_PATH}" setup.yml "$@"
mkdir -p "$reports" "$(dirname "$metrics_file")"
runbook() { ansible-playbook -i "$inventory" piwheels.ops.audit -e min_age=0 "$@"; }
# This inventory has no archive host: the runbook audits the master alone, its three archive steps (list the hosts,
# list them again before the repair, clean up and delete what the repairs queued) skipped.
recap() { grep -qE "testhost +: ok=$2 +changed=$3 +unreachable=0 +failed=0 +skipped=$4 " "$1"; }
metrics_py="$(realpath metrics.py)"
metric() { "$python" "$metrics_py" "$metrics_file" | "$python" -c 'import json, sys; print(format(json.load(sys.stdin)[sys.argv[1]], "g"))' "$1"; }

# A package list given as a string is refused, saying what to give.
if runbook -e packages=gamma "$@" >"${OUTPUT_DIR}/bad-packages.out" 2>&1; then exit 1; fi
grep -q 'Give -e repair=all or a list of kinds' "${OUTPUT_DIR}/bad-packages.out"

# --check: no prompt (stdin is closed), nothing repaired, the report files and
# the metrics written on the control node (three files: changed=3).
(cd "$reports" && runbook --check -e repair=all -e metrics_file="$metrics_file" "$@" </dev/null) \
    | tee "${OUTPUT_DIR}/check.out"
recap "${OUTPUT_DIR}/check.out" 9 3 6
if grep -q 'Archive host' "${OUTPUT_DIR}/check.out" "$reports"/audit-testhost-*.md; then exit 1; fi
test "$(metric piwheels_audit_archive_hosts_unlisted)" = 0
grep -q 'Check mode: nothing was repaired. A real run would repair' "${OUTPUT_DIR}/check.out"
grep -q 'orphan_wheel: 1 (to repair)' "${OUTPUT_DIR}/check.out"
test -f "$orphan"
test "$(ls "$reports"/audit-testhost-*.json | wc -l)" = 1
test "$(ls "$reports"/audit-testhost-*.md | wc -l)" = 1
"$python" -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["counts"]["orphan_wheel"] == 1 and not r["repaired"], r' \
    "$reports"/audit-testhost-*.json
grep -q '^# piwheels site audit of testhost' "$reports"/audit-testhost-*.md
grep -q '^| `orphan_wheel` | 1 | 0 |$' "$reports"/audit-testhost-*.md
grep -q '^- `orphan_wheel` `simple/gamma/gamma-1.0-py3-none-any.whl` (gamma): ' "$reports"/audit-testhost-*.md
grep -q '^Check mode: nothing was repaired; a real run would repair' "$reports"/audit-testhost-*.md
test "$(metric 'piwheels_audit_findings{orphan_wheel}')" = 1
test "$(metric 'piwheels_audit_findings{hash_mismatch}')" = 0
test "$(metric 'piwheels_audit_repaired_findings{orphan_wheel}')" = 0
metric piwheels_audit_last_run_timestamp_seconds
metric piwheels_audit_duration_seconds

# Without confirm=yes and without a terminal, nothing is repaired.
if runbook -e repair=all -e report_dir="$reports" "$@" </dev/null >"${OUTPUT_DIR}/unconfirmed.out" 2>&1; then exit 1; fi
grep -q 'Not confirmed: nothing was repaired' "${OUTPUT_DIR}/unconfirmed.out"
test -f "$orphan"

# Confirmed: repaired; the recap counts the repair and the three files. The
# project pages are left as they are: this master has no piw-master to tell
# (no mr_chase_master_queue), and the task warns.
runbook -e repair=all -e confirm=yes -e report_dir="$reports" -e metrics_file="$metrics_file" "$@" 2>&1 \
    | tee "${OUTPUT_DIR}/confirmed.out"
recap "${OUTPUT_DIR}/confirmed.out" 10 4 5
grep -q 'Repaired 4 of 4 finding(s) on testhost: orphan_wheel 1 missing_wheel 1 stale_page 1 orphan_directory 1.' \
    "${OUTPUT_DIR}/confirmed.out"
grep -q 'WARNING.*2 stale_project_page finding(s) left as they are: only piw-master rewrites project pages' \
    "${OUTPUT_DIR}/confirmed.out"
grep -q '2 finding(s) remain (of kinds this run does not repair: stale_project_page).' "${OUTPUT_DIR}/confirmed.out"
test ! -e "$orphan"
test ! -e "${output_path}/simple/no-such-package"
test "$(metric 'piwheels_audit_repaired_findings{orphan_wheel}')" = 1
test "$(metric 'piwheels_audit_repaired_findings{stale_project_page}')" = 0

# Again: nothing to repair, the Repair task skipped, the metrics say what is left.
runbook -e repair=all -e confirm=yes -e report_dir="$reports" -e metrics_file="$metrics_file" "$@" \
    | tee "${OUTPUT_DIR}/again.out"
recap "${OUTPUT_DIR}/again.out" 9 3 6
grep -q 'Nothing was repaired on testhost: nothing of the kinds asked for was found.' "${OUTPUT_DIR}/again.out"
test "$(metric 'piwheels_audit_findings{orphan_wheel}')" = 0
test "$(metric 'piwheels_audit_findings{missing_wheel}')" = 0
test "$(metric 'piwheels_audit_findings{stale_project_page}')" = 2
