#!/usr/bin/env bash
# The mr_chase role end to end: it deploys a Mr Chase that answers, a second
# run changes nothing, an unquoted socket mode is read right, the DSN's
# password is never printed, a foreign listener on the queue stops it, it
# tells piw-master of changes when asked, a changed setting restarts the
# service and takes effect, it manages the database role when asked, and the
# systemd unit it writes passes systemd-analyze verify.
set -euxo pipefail
# the setup target is a role next to this one
export ANSIBLE_ROLES_PATH=..
# ansible-test runs this from the target directory and passes the inventory in
# INVENTORY_PATH; the settings `make integration` wrote are two levels up.
set -- -i "${INVENTORY_PATH}" -e @../../integration_config.yml "$@"
setting() { sed -n "s/^$1: //p" ../../integration_config.yml; }
state_dir="$(setting piw_state_dir)"
repo_root="$(setting piw_repo_root)"
python="$(setting piw_testbed_python)"

ansible-playbook deploy.yml "$@"
ansible-playbook redeploy.yml "$@" | tee "${OUTPUT_DIR}/redeploy.out"
grep -qE 'testhost +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "${OUTPUT_DIR}/redeploy.out"
ansible-playbook verify.yml "$@"

# An unquoted 0660 writes the same configuration as "0660": nothing changes.
ansible-playbook socket_mode.yml "$@" | tee "${OUTPUT_DIR}/socket-mode.out"
grep -qE 'testhost +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "${OUTPUT_DIR}/socket-mode.out"

# The DSN's password never appears in the output of the deploy playbook, in
# check mode or for real, with --diff, at -v and at -vvv.
secret_dsn="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["dsn"])' \
    "${state_dir}/testbed/piwheels.json") password=s3cr3t-test"
deploy_inventory="${OUTPUT_DIR}/deploy-inventory.yml"
cat >"$deploy_inventory" <<INVENTORY
piwheels_master:
  hosts:
    testhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      mr_chase_dsn: "${secret_dsn}"
      mr_chase_output_path: "{{ piw_deploy.mr_chase_output_path }}"
      mr_chase_import_queue: "{{ piw_deploy.mr_chase_import_queue }}"
      mr_chase_install_dir: "{{ piw_deploy.mr_chase_install_dir }}"
      mr_chase_config_path: "{{ piw_deploy.mr_chase_config_path }}"
      mr_chase_log_file: "{{ piw_deploy.mr_chase_log_file }}"
      mr_chase_audit_log: "{{ piw_deploy.mr_chase_audit_log }}"
      mr_chase_pid_file: "{{ piw_deploy.mr_chase_pid_file }}"
      mr_chase_logrotate_config: "{{ piw_deploy.mr_chase_logrotate_config }}"
      mr_chase_service_manager: "{{ piw_deploy.mr_chase_service_manager }}"
      mr_chase_python: "{{ piw_deploy.mr_chase_python }}"
INVENTORY
deploy() {
    ansible-playbook -i "$deploy_inventory" piwheels.ops.deploy_mr_chase \
        -e @../setup_mr_chase/defaults/main.yml -e @../../integration_config.yml "$@"
}
deploy --check --diff -v >"${OUTPUT_DIR}/secret-check-v.out" 2>&1
deploy --check --diff -vvv >"${OUTPUT_DIR}/secret-check-vvv.out" 2>&1
deploy --diff -vvv >"${OUTPUT_DIR}/secret-real-vvv.out" 2>&1
for run in check-v check-vvv real-vvv; do
    grep -q 'TASK \[piwheels.ops.mr_chase : Write the configuration file\]' "${OUTPUT_DIR}/secret-$run.out"
    if grep -q 's3cr3t-test' "${OUTPUT_DIR}/secret-$run.out"; then exit 1; fi
done
# the password did reach the configuration file, which only root and the group may read
grep -q 'password=s3cr3t-test' "${state_dir}/etc/mr-chase.yaml"
[ "$(stat -c '%a %U %G' "${state_dir}/etc/mr-chase.yaml")" = "640 root piwheels" ]
ansible-playbook redeploy.yml "$@"

# piw-master (the testbed's stand-in) listens on its own queue, as on a real master.
master_path="${state_dir}/piw-import"
master_record="${OUTPUT_DIR}/master-record.jsonl"
rm -f "$master_record" "$master_path"
(cd "$repo_root" && exec "$python" -m piwheels_testbed master --queue "ipc://${master_path}" \
    --dsn "$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["piwheels_dsn"])' \
        "${state_dir}/testbed/piwheels.json")" \
    --output "${state_dir}/www-piwheels" --record "$master_record") &
master_pid=$!
trap 'kill "$master_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$master_path" ] && break; sleep 0.1; done
# piw-master runs as piwheels, so its socket is the service user's: Mr Chase may write to it
chown piwheels:piwheels "$master_path"
# Deployed onto piw-master's queue, the role stops before changing anything and names it.
ansible-playbook foreign.yml "$@" -e foreign_path="$master_path" -e foreign_pid="$master_pid"
# Told of piw-master's queue, Mr Chase notifies it after a removal.
ansible-playbook master.yml "$@" -e master_path="$master_path" -e master_record="$master_record"
kill "$master_pid"
wait "$master_pid" || true
# piw-master down: the next change's notice is queued, and nothing says the pages were refreshed.
ansible-playbook master_down.yml "$@"
ansible-playbook redeploy.yml "$@"

ansible-playbook change_settings.yml "$@"
ansible-playbook bad_settings.yml "$@"

# The database role: made with its grants the first time, nothing to do the second.
ansible-playbook database_role.yml "$@" -e drop_first=true | tee "${OUTPUT_DIR}/database-role.out"
grep -q 'CREATE ROLE mr_chase_it LOGIN;' "${OUTPUT_DIR}/database-role.out"
# ... and the admin DSN's password is not printed, even at -vvv
ansible-playbook database_role.yml "$@" -vvv -e admin_dsn_suffix=' password=s3cr3t-admin' \
    >"${OUTPUT_DIR}/database-role-again.out" 2>&1
grep -qE 'testhost +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "${OUTPUT_DIR}/database-role-again.out"
grep -q 'TASK \[piwheels.ops.mr_chase : Create Mr Chase.s database role' "${OUTPUT_DIR}/database-role-again.out"
if grep -q 's3cr3t-admin' "${OUTPUT_DIR}/database-role-again.out"; then exit 1; fi

ansible-playbook unit.yml "$@"
