#!/usr/bin/env bash
# The archive servers (issue 23): an inventory of three hosts on this machine,
# the master and two archive hosts (ansible_connection: local) with their own
# roots, each served over HTTP by python -m http.server as an archive server
# serves its wheels. Wheels archived at both locations are removed by REMOVE,
# FORGET and DELETE through piwheels.ops.remove: 200 before, 404 after. With
# archive2 unreachable the removal on the master still completes, the pending
# list survives a Mr Chase restart, the summary names what is still served,
# the run fails at its end, and a rerun (or piwheels.ops.archive_sync) drains
# it. Bad inventory variables stop the run at its start; a location with
# wheels pending that no host serves fails it at its end.
set -euxo pipefail
export ANSIBLE_ROLES_PATH=..
set -- -e @../../integration_config.yml "$@"
state_dir="$(sed -n 's/^piw_state_dir: //p' ../../integration_config.yml)"
queue="ipc://${state_dir}/run/mr-chase/queue"
root1="${state_dir}/archive1" root2="${state_dir}/archive2"
free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port1="$(free_port)" port2="$(free_port)" closed_port="$(free_port)"
location1="http://127.0.0.1:${port1}/simple" location2="http://127.0.0.1:${port2}/simple"
set -- -e root1="$root1" -e root2="$root2" -e location1="$location1" -e location2="$location2" "$@"

ansible-playbook -i "${INVENTORY_PATH}" piw_archive.yml "$@"
ansible-playbook -i "${INVENTORY_PATH}" setup.yml "$@"

# Each archive root served over HTTP as its archive server would; stopped whatever happens
servers=()
stop_servers() { for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_servers EXIT
python -m http.server --bind 127.0.0.1 --directory "$root1" "$port1" >"${OUTPUT_DIR}/http1.log" 2>&1 & servers+=($!)
python -m http.server --bind 127.0.0.1 --directory "$root2" "$port2" >"${OUTPUT_DIR}/http2.log" 2>&1 & servers+=($!)
# the HTTP status of a URL (what pip download would get)
http_status() {
    python - "$1" <<'PY'
import sys, time, urllib.error, urllib.request
for attempt in range(50):  # the server may still be starting
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
        break
    except urllib.error.HTTPError as error:
        print(error.code)
        break
    except urllib.error.URLError:
        time.sleep(0.1)
PY
}
served() { test "$(http_status "$1")" = 200; }
gone() { test "$(http_status "$1")" = 404; }

# inventory CONNECTION: the master and two archive hosts; archive2 acts as piwheels (its tree's owner) and is
# reached through CONNECTION: local, or ssh to a port where nothing listens (unreachable)
inventory() {
    cat <<INVENTORY
piwheels_master:
  hosts:
    testhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      mr_chase_import_queue: "$queue"
piwheels_archive:
  hosts:
    archive1:
      ansible_connection: local
      ansible_python_interpreter: /usr/bin/python3
      piw_archive_location: "$location1"
      piw_archive_root: "$root1"
    archive2:
      ansible_connection: $1
      ansible_host: 127.0.0.1
      ansible_port: ${closed_port}
      ansible_python_interpreter: /usr/bin/python3
      piw_archive_location: "${location2}/"
      piw_archive_root: "$root2"
      piw_archive_become_user: piwheels
INVENTORY
}
good="${OUTPUT_DIR}/archive-inventory.yml" unreachable="${OUTPUT_DIR}/unreachable-inventory.yml"
inventory local >"$good"
inventory ssh >"$unreachable"

runbook() { inventory_file="$1"; shift; ansible-playbook -i "$inventory_file" piwheels.ops.remove "$@"; }
archive_sync() { inventory_file="$1"; shift; ansible-playbook -i "$inventory_file" piwheels.ops.archive_sync "$@"; }
pending() { ansible-playbook -i "${INVENTORY_PATH}" pending.yml -e location="$1" -e "{\"expect\": $2}" "${@:3}"; }
files_left() { ansible-playbook -i "${INVENTORY_PATH}" files.yml -e package="$1" -e version="$2" -e expect_files="$3" "${@:4}"; }
url1() { echo "${location1}/$1"; }
url2() { echo "${location2}/$1"; }

# Bad inventory variables stop the run before anything changes, with a message naming host and variable.
bad() {
    sed "$1" "$good" >"${OUTPUT_DIR}/bad.yml"
    if runbook "${OUTPUT_DIR}/bad.yml" -e package=gamma -e '{"versions": ["1.0"]}' -e confirm=yes "${@:3}" \
        >"${OUTPUT_DIR}/bad.out" 2>&1; then exit 1; fi
    grep -q "$2" "${OUTPUT_DIR}/bad.out"
    if grep -q 'Act on a package' "${OUTPUT_DIR}/bad.out"; then exit 1; fi
}
bad "/piw_archive_root: \"${root1//\//\\/}\"/d" 'archive1 (group piwheels_archive): set piw_archive_root to the absolute path' "$@"
bad "s/piw_archive_root: \"${root1//\//\\/}\"/piw_archive_root: relative\/archive1/" \
    'archive1 (group piwheels_archive): set piw_archive_root to the absolute path.*got relative/archive1' "$@"
bad "s/piw_archive_location: \"${location1//\//\\/}\"/piw_archive_location: archive1.example/" \
    'archive1 (group piwheels_archive): set piw_archive_location to the files.location' "$@"
files_left gamma 1.0 2 "$@"

served "$(url1 gamma/gamma-1.0-cp37-cp37-linux_armv7l.whl)"
served "$(url2 gamma/gamma-1.0-py3-none-any.whl)"

# --check contacts the archive hosts and says per host what would go; nothing changes.
runbook "$good" --check -e package=gamma -e '{"versions": ["1.0"]}' "$@" </dev/null | tee "${OUTPUT_DIR}/check.out"
grep -q "archive1 (${location1}): would delete 1 archived wheel" "${OUTPUT_DIR}/check.out"
grep -q "archive2 (${location2}): would delete 1 archived wheel" "${OUTPUT_DIR}/check.out"
grep -q -- '- gamma/gamma-1.0-py3-none-any.whl' "${OUTPUT_DIR}/check.out"
served "$(url1 gamma/gamma-1.0-cp37-cp37-linux_armv7l.whl)"
served "$(url2 gamma/gamma-1.0-py3-none-any.whl)"
files_left gamma 1.0 2 "$@"

# REMOVE: both archived wheels go from both hosts, and nothing is left pending.
runbook "$good" -e package=gamma -e '{"versions": ["1.0"]}' -e confirm=yes "$@" | tee "${OUTPUT_DIR}/remove.out"
grep -q "archive1 (${location1}): deleted 1 archived wheel" "${OUTPUT_DIR}/remove.out"
grep -q "archive2 (${location2}): deleted 1 archived wheel" "${OUTPUT_DIR}/remove.out"
gone "$(url1 gamma/gamma-1.0-cp37-cp37-linux_armv7l.whl)"
gone "$(url2 gamma/gamma-1.0-py3-none-any.whl)"
pending "$location1" '[]' "$@"
pending "$location2" '[]' "$@"
files_left gamma 1.0 0 "$@"
# again: nothing changes
runbook "$good" -e package=gamma -e '{"versions": ["1.0"]}' -e confirm=yes "$@" | tee "${OUTPUT_DIR}/remove-again.out"
grep -qE "testhost +: .* changed=0 +unreachable=0 +failed=0 " "${OUTPUT_DIR}/remove-again.out"
grep -q "archive1 (${location1}): deleted 0 archived wheels" "${OUTPUT_DIR}/remove-again.out"

# FORGET and DELETE take their archived wheels down too.
served "$(url1 gamma/gamma-1.1-cp37-cp37-linux_armv7l.whl)"
runbook "$good" -e operation=forgotten -e package=gamma -e '{"versions": ["1.1"]}' -e confirm=yes "$@" \
    | tee "${OUTPUT_DIR}/forget.out"
grep -q "archive1 (${location1}): deleted 1 archived wheel" "${OUTPUT_DIR}/forget.out"
gone "$(url1 gamma/gamma-1.1-cp37-cp37-linux_armv7l.whl)"
served "$(url1 beta-tools/beta_tools-1.0-cp37-cp37-linux_armv7l.whl)"
served "$(url2 beta-tools/beta_tools-1.2-cp37-cp37-linux_armv7l.whl)"
runbook "$good" --check -e operation=package-deleted -e package=beta-tools "$@" </dev/null | tee "${OUTPUT_DIR}/delete-check.out"
grep -q -- '- beta-tools/beta_tools-1.0-cp37-cp37-linux_armv7l.whl' "${OUTPUT_DIR}/delete-check.out"
served "$(url1 beta-tools/beta_tools-1.0-cp37-cp37-linux_armv7l.whl)"
runbook "$good" -e operation=package-deleted -e package=beta-tools -e confirm=yes "$@" | tee "${OUTPUT_DIR}/delete.out"
grep -q "archive2 (${location2}): deleted 1 archived wheel" "${OUTPUT_DIR}/delete.out"
gone "$(url1 beta-tools/beta_tools-1.0-cp37-cp37-linux_armv7l.whl)"
gone "$(url2 beta-tools/beta_tools-1.2-cp37-cp37-linux_armv7l.whl)"

# archive2 unreachable: the removal on the master completes, the summary names
# what archive2 still serves, and the run fails at its end.
alpha10=alpha/alpha-1.0-cp37-cp37-linux_armv7l.whl
served "$(url2 "$alpha10")"
if runbook "$unreachable" -e package=alpha -e '{"versions": ["1.0"]}' -e confirm=yes "$@" \
    >"${OUTPUT_DIR}/unreachable.out" 2>&1; then exit 1; fi
cat "${OUTPUT_DIR}/unreachable.out"
grep -q 'Removed from piwheels: alpha 1.0' "${OUTPUT_DIR}/unreachable.out"
grep -q "archive2 (${location2}): NOT REACHED" "${OUTPUT_DIR}/unreachable.out"
grep -q "Still served at ${location2} (1 pending), by archive2" "${OUTPUT_DIR}/unreachable.out"
grep -q -- "- $(url2 "$alpha10")" "${OUTPUT_DIR}/unreachable.out"
grep -q '1 archived wheels that piwheels no longer lists are still served' "${OUTPUT_DIR}/unreachable.out"
files_left alpha 1.0 0 "$@"
served "$(url2 "$alpha10")"
# the pending list survives a restart of Mr Chase
"${state_dir}/opt/mr-chase/bin/mr-chase-ctl" restart
pending "$location2" '["alpha-1.0-cp37-cp37-linux_armv7l.whl"]' "$@"
# the rerun drains it
runbook "$good" -e package=alpha -e '{"versions": ["1.0"]}' -e confirm=yes "$@" | tee "${OUTPUT_DIR}/rerun.out"
grep -q "archive2 (${location2}): deleted 1 archived wheel" "${OUTPUT_DIR}/rerun.out"
gone "$(url2 "$alpha10")"
pending "$location2" '[]' "$@"

# A location with wheels pending that no host of the inventory serves (archive2's piw_archive_location misspelt):
# nothing stops the removal at its start (a removal never waits for an archive host); the master's removal is
# done, and the run fails at its end naming the location, its wheels, and the declared location closest to it.
# With the inventory corrected, a rerun deletes the wheel and passes.
alpha11=alpha/alpha-1.1-cp37-cp37-linux_armv7l.whl
ansible-playbook -i "${INVENTORY_PATH}" archive_one.yml -e package=alpha -e filename="${alpha11#alpha/}" \
    -e root="$root2" -e location="$location2" "$@"
sed "s|piw_archive_location: \"${location2}/\"|piw_archive_location: \"${location2}x\"|" "$good" >"${OUTPUT_DIR}/typo.yml"
if runbook "${OUTPUT_DIR}/typo.yml" -e package=alpha -e '{"versions": ["1.1"]}' -e confirm=yes "$@" \
    >"${OUTPUT_DIR}/typo.out" 2>&1; then exit 1; fi
cat "${OUTPUT_DIR}/typo.out"
grep -q 'Removed from piwheels: alpha 1.1' "${OUTPUT_DIR}/typo.out"
grep -q "Still served at ${location2} (1 pending), by no host of group piwheels_archive (the closest declared piw_archive_location is ${location2}x, of archive2" "${OUTPUT_DIR}/typo.out"
grep -q -- "- $(url2 "$alpha11")" "${OUTPUT_DIR}/typo.out"
grep -q "1 archived wheel that piwheels no longer lists is still served at ${location2}, which no host of group piwheels_archive serves (${alpha11#alpha/}). The closest piw_archive_location declared is ${location2}x (archive2)" "${OUTPUT_DIR}/typo.out"
grep -qE "testhost +: .* failed=1 " "${OUTPUT_DIR}/typo.out"
files_left alpha 1.1 0 "$@"
served "$(url2 "$alpha11")"
pending "$location2" "[\"${alpha11#alpha/}\"]" "$@"
runbook "$good" -e package=alpha -e '{"versions": ["1.1"]}' -e confirm=yes "$@" | tee "${OUTPUT_DIR}/typo-fixed.out"
grep -q "archive2 (${location2}): deleted 1 archived wheel" "${OUTPUT_DIR}/typo-fixed.out"
gone "$(url2 "$alpha11")"
pending "$location2" '[]' "$@"

# The same with archive_sync: FORGET alpha 1.2 while archive2 is unreachable,
# then archive_sync (check, unconfirmed, confirmed, again) drains it.
alpha12=alpha/alpha-1.2-cp37-cp37-linux_armv7l.whl
if runbook "$unreachable" -e operation=forgotten -e package=alpha -e '{"versions": ["1.2"]}' -e confirm=yes "$@" \
    >"${OUTPUT_DIR}/unreachable-forget.out" 2>&1; then exit 1; fi
grep -q "Still served at ${location2} (1 pending), by archive2" "${OUTPUT_DIR}/unreachable-forget.out"
served "$(url2 "$alpha12")"
archive_sync "$good" --check "$@" </dev/null | tee "${OUTPUT_DIR}/sync-check.out"
grep -q "${location2}: 1 wheels pending" "${OUTPUT_DIR}/sync-check.out"
grep -q "archive2 (${location2}): would delete 1 archived wheel" "${OUTPUT_DIR}/sync-check.out"
served "$(url2 "$alpha12")"
if archive_sync "$good" "$@" </dev/null >"${OUTPUT_DIR}/sync-unconfirmed.out" 2>&1; then exit 1; fi
grep -q 'Not confirmed: nothing was deleted' "${OUTPUT_DIR}/sync-unconfirmed.out"
served "$(url2 "$alpha12")"
archive_sync "$good" -e confirm=yes "$@" | tee "${OUTPUT_DIR}/sync.out"
grep -q "archive2 (${location2}): deleted 1 archived wheel" "${OUTPUT_DIR}/sync.out"
gone "$(url2 "$alpha12")"
pending "$location2" '[]' "$@"
archive_sync "$good" -e confirm=yes "$@" | tee "${OUTPUT_DIR}/sync-again.out"
grep -q 'Nothing is pending' "${OUTPUT_DIR}/sync-again.out"
grep -qE "testhost +: .* changed=0 +unreachable=0 +failed=0 " "${OUTPUT_DIR}/sync-again.out"
# an unreachable host with nothing pending for it is a warning, not a failure
archive_sync "$unreachable" -e confirm=yes "$@" | tee "${OUTPUT_DIR}/sync-unreachable.out"
grep -q 'Warning: archive host archive2 could not be reached' "${OUTPUT_DIR}/sync-unreachable.out"

# The audit runbook covers the archive hosts (audit_archives.sh)
. ./audit_archives.sh "$@"
