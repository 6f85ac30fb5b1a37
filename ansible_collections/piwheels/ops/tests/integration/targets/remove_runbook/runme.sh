#!/usr/bin/env bash
# The maintainer-request runbook (playbooks/remove.yml) as an operator runs it:
# --check asks nothing, changes nothing and says "would"; it refuses to remove
# without confirmation, removes with it, prints a truthful summary, and a
# second run changes nothing; -b --become-user is honoured. The same for a
# yank and a whole-package deletion (operation=yanked, operation=package-deleted).
set -euxo pipefail
# the setup target is a role next to this one
export ANSIBLE_ROLES_PATH=..
set -- -e @../../integration_config.yml "$@"
inventory="${OUTPUT_DIR}/runbook-inventory.yml"
state_dir="$(sed -n 's/^piw_state_dir: //p' ../../integration_config.yml)"
queue="ipc://${state_dir}/run/mr-chase/queue"
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
# The play recap of a run: ok, changed and skipped tasks of the request's
# play, to which the archive plays add 7 ok and 6 skipped (never a change).
#   The request's play: a removal acted on is 6 1 4: ok are the request check,
#   the plan, noting it, showing it, the acting task (the one change: the plan
#   is ok, plan: true) and the summary; skipped are the package-deletion plan,
#   the prompt and its refusal (confirmed, or --check), and the package
#   deletion. A request already done is 5 0 5: the acting task is skipped too.
#   The archive plays, on this inventory without archive hosts and with
#   archive0's wheel pending (setup.yml): skipped are the three checks of the
#   archive hosts' variables (no host to check), the rounds of the inventory's
#   locations (none), the warning about unreachable hosts (none) and the
#   failure (an inventory without archive hosts manages none); ok are the
#   inclusion of drain.yml, its start, reading which locations have wheels
#   pending, reading archive0's wheels (no host serves it), noting them, the
#   summary and the warning that this inventory does not manage archive0.
recap() { grep -qE "testhost +: ok=$(($2 + 7)) +changed=$3 +unreachable=0 +failed=0 +skipped=$(($4 + 6)) " "$1"; }
# every run names the wheel setup.yml left pending at archive0, which no host of this inventory serves, with a
# warning, and succeeds: a removal is never held up by an archive host (issue 23)
archive0=https://archive0.piwheels.example/simple
unmanaged_named() {
    grep -q "Archive hosts: none in the inventory (group piwheels_archive)." "$1"
    grep -q "${2:-Still} served at ${archive0} (1 pending), not managed by this inventory: add the archive hosts to group piwheels_archive and run piwheels.ops.archive_sync:" "$1"
    grep -q -- "- ${archive0}/alpha/alpha-1.0-cp37-cp37-linux_armv7l.whl" "$1"
    grep -q "Warning: 1 archived wheel that piwheels no longer lists is still served, at ${archive0}, not managed by this inventory" "$1"
}
# how many times a run printed the diff of gamma
diffs_shown() { grep -c '^--- before: gamma (Mr Chase)' "$1" || true; }
files_left() { ansible-playbook -i "${INVENTORY_PATH}" check.yml -e package=gamma -e version="$1" -e expect_files="$2" "${@:3}"; }
gamma_12_yanked() { ansible-playbook -i "${INVENTORY_PATH}" check.yml -e package=gamma -e version=1.2 -e expect_files=2 -e expect_yanked="$1" "${@:2}"; }

# A request without versions is refused with a message that says what to give;
# so are an unknown operation and versions given to a package deletion.
if runbook -e package=gamma "$@" >"${OUTPUT_DIR}/no-versions.out" 2>&1; then exit 1; fi
grep -q 'Give -e package=NAME and -e versions=all or a list' "${OUTPUT_DIR}/no-versions.out"
if runbook -e package=gamma -e versions=all -e operation=purged "$@" >"${OUTPUT_DIR}/bad-operation.out" 2>&1; then exit 1; fi
grep -q 'package-deleted takes no versions' "${OUTPUT_DIR}/bad-operation.out"
if runbook -e package=gamma -e versions=all -e operation=package-deleted "$@" >"${OUTPUT_DIR}/delete-versions.out" 2>&1
then exit 1; fi
grep -q 'Give -e package=NAME' "${OUTPUT_DIR}/delete-versions.out"

# --check: no prompt (stdin is closed, so a prompt would fail the run), nothing
# removed, and the summary says what would go, with or without confirm=yes.
# The acting task runs in check mode: the one change it would make, and its
# diff, shown once.
for confirm in no yes; do
    runbook --check --diff -e package=gamma -e '{"versions": ["1.0"]}' -e confirm=$confirm "$@" </dev/null \
        | tee "${OUTPUT_DIR}/check-$confirm.out"
    recap "${OUTPUT_DIR}/check-$confirm.out" 6 1 4
    unmanaged_named "${OUTPUT_DIR}/check-$confirm.out" 'Would still be'
    test "$(diffs_shown "${OUTPUT_DIR}/check-$confirm.out")" = 1
    grep -q 'Check mode: nothing was changed.' "${OUTPUT_DIR}/check-$confirm.out"
    grep -q 'Would remove from piwheels: gamma 1.0' "${OUTPUT_DIR}/check-$confirm.out"
    grep -q '1 build, 2 files, 6 download records' "${OUTPUT_DIR}/check-$confirm.out"
    if grep -q 'Removed from piwheels' "${OUTPUT_DIR}/check-$confirm.out"; then exit 1; fi
done
files_left 1.0 2 "$@"

# Without confirm=yes and without a terminal to answer on, nothing is removed.
if runbook -e package=gamma -e '{"versions": ["1.0"]}' "$@" </dev/null >"${OUTPUT_DIR}/unconfirmed.out" 2>&1; then exit 1; fi
grep -q 'Not confirmed: nothing was removed' "${OUTPUT_DIR}/unconfirmed.out"
grep -q 'gamma-1.0-py3-none-any.whl' "${OUTPUT_DIR}/unconfirmed.out"
grep -q 'will be built again (no skip reason given)' "${OUTPUT_DIR}/unconfirmed.out"
files_left 1.0 2 "$@"

# Confirmed: removed, with a summary to paste into the request; one change in
# the recap, its diff shown once.
runbook --diff -e package=gamma -e '{"versions": ["1.0"], "skip_reason": "https://example.org/issue/1"}' -e confirm=yes "$@" \
    | tee "${OUTPUT_DIR}/confirmed.out"
recap "${OUTPUT_DIR}/confirmed.out" 6 1 4
unmanaged_named "${OUTPUT_DIR}/confirmed.out"
test "$(diffs_shown "${OUTPUT_DIR}/confirmed.out")" = 1
grep -q 'Removed from piwheels: gamma 1.0' "${OUTPUT_DIR}/confirmed.out"
grep -q '(1 build, 2 files, 6 download records)' "${OUTPUT_DIR}/confirmed.out"
grep -q '1.0 will not be built again (https://example.org/issue/1)' "${OUTPUT_DIR}/confirmed.out"
grep -q 'The project page and JSON API of gamma were not refreshed: no piw-master is configured' \
    "${OUTPUT_DIR}/confirmed.out"
files_left 1.0 0 "$@"
files_left 1.1 2 "$@"

# The same request again: nothing changes and the runbook says so.
runbook -e package=gamma -e '{"versions": ["1.0"], "skip_reason": "https://example.org/issue/1"}' -e confirm=yes "$@" \
    | tee "${OUTPUT_DIR}/again.out"
recap "${OUTPUT_DIR}/again.out" 5 0 5
unmanaged_named "${OUTPUT_DIR}/again.out"
grep -q 'Nothing left to remove for gamma 1.0: already done.' "${OUTPUT_DIR}/again.out"
if grep -q 'Removed from piwheels' "${OUTPUT_DIR}/again.out"; then exit 1; fi

# archive_sync with this inventory deletes nothing, so it asks nothing (stdin is closed: a prompt would fail the
# run), names archive0's wheel as not managed here, changes nothing and succeeds.
ansible-playbook -i "$inventory" piwheels.ops.archive_sync "$@" </dev/null | tee "${OUTPUT_DIR}/sync.out"
grep -q "${archive0}: 1 wheels pending" "${OUTPUT_DIR}/sync.out"
unmanaged_named "${OUTPUT_DIR}/sync.out"
grep -qE "testhost +: .* changed=0 +unreachable=0 +failed=0 " "${OUTPUT_DIR}/sync.out"

# One version gone already, one still there, no skip reason: only the second
# is claimed removed, and the summary says both will be built again... except
# 1.0, which kept its skip reason from before.
runbook -e package=gamma -e '{"versions": ["1.1", "1.0"]}' -e confirm=yes "$@" | tee "${OUTPUT_DIR}/mixed.out"
recap "${OUTPUT_DIR}/mixed.out" 6 1 4
grep -q 'Removed from piwheels: gamma 1.1"' "${OUTPUT_DIR}/mixed.out"
grep -q 'Nothing left to remove for gamma 1.0: already done.' "${OUTPUT_DIR}/mixed.out"
grep -q '1.1 will be built again (no skip reason given).' "${OUTPUT_DIR}/mixed.out"
grep -q '1.0 will not be built again (https://example.org/issue/1).' "${OUTPUT_DIR}/mixed.out"
files_left 1.1 0 "$@"

# The summary lists versions in PEP 440 order and counts in the singular
# when there is one (rendered from a result with versions 1.9 and 1.10).
ansible-playbook -i "${INVENTORY_PATH}" summary.yml "$@"

# -b --become-user decides who runs the tasks (the playbook sets no become):
# the service user may use the socket, an outsider is refused by it. su needs
# a shell for accounts that have none; the interpreter is the one the service
# user can reach, the virtual environment the role made.
as_user() {
    runbook --check -e package=gamma -e '{"versions": ["1.2"]}' -b --become-method su --become-user "$1" \
        -e ansible_become_flags=--shell=/bin/sh \
        -e ansible_python_interpreter="${state_dir}/opt/mr-chase/venv/bin/python" "${@:2}" </dev/null
}
as_user piwheels "$@" | tee "${OUTPUT_DIR}/as-piwheels.out"
grep -q 'Would remove from piwheels: gamma 1.2' "${OUTPUT_DIR}/as-piwheels.out"
if as_user nobody "$@" >"${OUTPUT_DIR}/as-nobody.out" 2>&1; then exit 1; fi
grep -q "permission denied on ${state_dir}/run/mr-chase/queue" "${OUTPUT_DIR}/as-nobody.out"

# What the README documents, as an operator runs it: a non-root account with
# sudo, -b --become-user piwheels, Ansible's own defaults (no pipelining; the
# targets' integration.cfg, which turns it on, is not read). Becoming another
# unprivileged user, Ansible must let piwheels read the module it copied into
# the operator's temporary directory: setfacl, which a stock Debian host lacks
# (the acl package), else it fails. The runbook pipes its modules instead
# (ansible_pipelining in the play), so it needs no acl: shown by the run with
# pipelining turned off failing where setfacl is missing, and by the runbook's
# own run putting no file on the host and running no setfacl (so that a host
# with acl proves the same). The operator runs the same ansible-core with the
# system's Python (this checkout's may live under /root, closed to others).
operator=piw-it-operator
operator_home="${state_dir}/operator"
sudoers=/etc/sudoers.d/piw-it-operator
# a stock Debian host may lack sudo: the test installs it as an operator would (the test runs as root)
command -v sudo >/dev/null || { apt-get install -qy sudo >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -qy sudo >/dev/null; }; } ||
    { echo "the -b --become-user test needs sudo, and apt-get could not install it" >&2; exit 1; }
drop_operator() { rm -f "$sudoers"; if getent passwd "$operator" >/dev/null; then userdel "$operator"; fi; rm -rf "$operator_home"; }
drop_operator
trap drop_operator EXIT
useradd --home-dir "$operator_home" --create-home --shell /bin/sh "$operator"
printf '%s ALL=(piwheels) NOPASSWD: ALL\n' "$operator" >"${sudoers}.new"
chmod 0440 "${sudoers}.new" && visudo -cqf "${sudoers}.new" && mv "${sudoers}.new" "$sudoers"
/usr/bin/python3 -m venv "${operator_home}/venv"
# (realpath: ansible-test reaches ansible through a link in a directory only root may enter)
python -c 'import ansible, jinja2, yaml, os; print("\n".join({os.path.dirname(os.path.dirname(os.path.realpath(m.__file__))) for m in (ansible, jinja2, yaml)}))' \
    >"$(echo "${operator_home}"/venv/lib/python3*/site-packages)/controller.pth"
repo_root="$(sed -n 's/^piw_repo_root: //p' ../../integration_config.yml)"
mkdir -p "${operator_home}/collections/ansible_collections/piwheels/ops"
(cd "${repo_root}/ansible_collections/piwheels/ops" && cp -r galaxy.yml meta playbooks plugins roles \
    "${operator_home}/collections/ansible_collections/piwheels/ops/")
cat >"${operator_home}/inventory.yml" <<INVENTORY
piwheels_master:
  hosts:
    testhost:
      ansible_connection: local
      ansible_python_interpreter: "${state_dir}/opt/mr-chase/venv/bin/python"
      mr_chase_import_queue: "$queue"
INVENTORY
chown -R "$operator:" "$operator_home"
as_operator() {
    (cd "$operator_home" && runuser -u "$operator" -- env -i HOME="$operator_home" LANG=C.UTF-8 \
        PATH="${operator_home}/venv/bin:/usr/bin:/bin" ANSIBLE_COLLECTIONS_PATH="${operator_home}/collections" \
        ANSIBLE_PIPELINING=false "${operator_home}/venv/bin/python" -m ansible playbook -i inventory.yml \
        piwheels.ops.remove -b --become-user piwheels --check -e package=gamma -e '{"versions": ["1.2"]}' "$@" </dev/null)
}
if ! command -v setfacl >/dev/null; then
    if as_operator -e ansible_pipelining=false >"${OUTPUT_DIR}/as-operator-unpiped.out" 2>&1; then exit 1; fi
    grep -q 'Failed to set permissions on the temporary files Ansible needs to create when becoming an unprivileged user' \
        "${OUTPUT_DIR}/as-operator-unpiped.out"
fi
as_operator -vvv | tee "${OUTPUT_DIR}/as-operator.out"
grep -q 'Would remove from piwheels: gamma 1.2' "${OUTPUT_DIR}/as-operator.out"
grep -qE 'EXEC .*sudo -H -S -n +-u piwheels ' "${OUTPUT_DIR}/as-operator.out"
recap "${OUTPUT_DIR}/as-operator.out" 6 1 4
if grep -qE '^<testhost> PUT |setfacl' "${OUTPUT_DIR}/as-operator.out"; then exit 1; fi
drop_operator
trap - EXIT
files_left 1.2 2 "$@"

# Yank gamma 1.2 (a version the runs above left whole): --check says what it
# would do, confirmed it yanks, the wheels stay, a second run changes nothing.
yank() { runbook -e operation=yanked -e package=gamma -e '{"versions": ["1.2"]}' "$@"; }
yank --check "$@" </dev/null | tee "${OUTPUT_DIR}/yank-check.out"
recap "${OUTPUT_DIR}/yank-check.out" 6 1 4
grep -q 'Check mode: nothing was changed.' "${OUTPUT_DIR}/yank-check.out"
grep -q 'Would yank on piwheels: gamma 1.2.' "${OUTPUT_DIR}/yank-check.out"
gamma_12_yanked no "$@"
if yank "$@" </dev/null >"${OUTPUT_DIR}/yank-unconfirmed.out" 2>&1; then exit 1; fi
grep -q 'Not confirmed: nothing was changed' "${OUTPUT_DIR}/yank-unconfirmed.out"
gamma_12_yanked no "$@"
yank -e confirm=yes "$@" | tee "${OUTPUT_DIR}/yank.out"
recap "${OUTPUT_DIR}/yank.out" 6 1 4
grep -q 'Yanked on piwheels: gamma 1.2. pip no longer picks it unless pinned exactly; the wheels stay.' \
    "${OUTPUT_DIR}/yank.out"
gamma_12_yanked yes "$@"
yank -e confirm=yes "$@" | tee "${OUTPUT_DIR}/yank-again.out"
recap "${OUTPUT_DIR}/yank-again.out" 5 0 5
grep -q 'Already yanked: gamma 1.2.' "${OUTPUT_DIR}/yank-again.out"

# Delete beta-tools whole: --check deletes nothing; without confirmation (the
# prompt asks for the package's name) nothing goes; confirmed, it all goes,
# and a second run finds nothing to delete.
delete() { runbook -e operation=package-deleted -e package=beta-tools "$@"; }
delete --check "$@" </dev/null | tee "${OUTPUT_DIR}/delete-check.out"
recap "${OUTPUT_DIR}/delete-check.out" 6 1 4
grep -q 'Would delete from piwheels: package beta-tools' "${OUTPUT_DIR}/delete-check.out"
grep -q '(3 versions, 3 builds, 6 files, 18 download records, and its aliases Beta_Tools, beta_tools)' "${OUTPUT_DIR}/delete-check.out"
if delete "$@" </dev/null >"${OUTPUT_DIR}/delete-unconfirmed.out" 2>&1; then exit 1; fi
grep -q 'Not confirmed: nothing was deleted. Run again and answer beta-tools' "${OUTPUT_DIR}/delete-unconfirmed.out"
grep -q 'delete the whole package, all or nothing' "${OUTPUT_DIR}/delete-unconfirmed.out"
ansible-playbook -i "${INVENTORY_PATH}" check.yml -e package=beta-tools -e version=1.0 -e expect_files=2 "$@"
delete -e confirm=yes "$@" | tee "${OUTPUT_DIR}/delete.out"
recap "${OUTPUT_DIR}/delete.out" 6 1 4
grep -q 'Deleted from piwheels: package beta-tools' "${OUTPUT_DIR}/delete.out"
ansible-playbook -i "${INVENTORY_PATH}" gone.yml -e package=beta-tools "$@"
delete -e confirm=yes "$@" | tee "${OUTPUT_DIR}/delete-again.out"
recap "${OUTPUT_DIR}/delete-again.out" 5 0 5
grep -q 'Nothing to delete: piwheels has no package beta-tools, already deleted at 20' "${OUTPUT_DIR}/delete-again.out"
# A typo is never "already done" (issue 24): the runbook stops and says what was meant.
if runbook -e operation=package-deleted -e package=gamam -e confirm=yes "$@" >"${OUTPUT_DIR}/typo-package.out" 2>&1; then exit 1; fi
grep -q 'piwheels has no package gamam and there is no record of deleting it; did you mean gamma?' "${OUTPUT_DIR}/typo-package.out"
if runbook -e operation=forgotten -e package=gamma -e '{"versions": ["1.20"]}' -e confirm=yes "$@" >"${OUTPUT_DIR}/typo-version.out" 2>&1; then exit 1; fi
grep -q 'gamma has no version 1.20 and there is no record of forgetting it; gamma has ' "${OUTPUT_DIR}/typo-version.out"
files_left 1.2 2 "$@"
