# shellcheck shell=bash disable=SC2154
# Sourced by runme.sh (its inventories, HTTP servers and helpers): the audit
# runbook (playbooks/audit.yml) covers the archive hosts. On a fresh master,
# an orphan wheel put on archive1 and an archived wheel's file deleted from
# archive2: --check lists exactly these two findings and changes nothing; the
# repair deletes the orphan on archive1 (404 over HTTP) and removes the dead
# link's build (its page no longer links it); a second audit finds nothing of
# the archive kinds and repairs nothing. With archive2 unreachable the master
# is audited all the same, the report names archive2 and its location as not
# audited, and the run fails at its end. No listing is left behind.
ansible-playbook -i "${INVENTORY_PATH}" setup.yml "$@"
reports="${OUTPUT_DIR}/audit-reports"
mkdir -p "$reports"
audit() { inventory_file="$1"; shift; rm -f "$reports"/audit-*
    ansible-playbook -i "$inventory_file" piwheels.ops.audit -e min_age=0 -e report_dir="$reports" "$@"; }
# "kind path repaired" of each finding of the run's JSON report, sorted
audit_findings() {
    python -c 'import json, sys; print("\n".join(sorted(" ".join((f["kind"], f["path"], str(f["repaired"])))
        for f in json.load(open(sys.argv[1]))["findings"])))' "$reports"/audit-testhost-*.json
}
# the listings' private directories: on the master (under Mr Chase's socket directory), and in /tmp on the control
# node and the archive hosts (all this machine)
no_listing_left() { test -z "$(find "${state_dir}/run/mr-chase" /tmp -maxdepth 1 -name 'piw-audit-*')"; }
orphan=gamma/gamma-0.9-cp37-cp37-linux_armv7l.whl dead=alpha/alpha-1.0-cp37-cp37-linux_armv7l.whl
page="${state_dir}/www-piwheels/simple/alpha/index.html"

# The testbed wrote its pages before setup.yml moved wheels to the archives: bring them in line first.
audit "$good" -e repair=stale_page -e confirm=yes "$@"
echo 'not a wheel of any row' >"${root1}/simple/${orphan}"
rm "${root2}/simple/${dead}"
served "$(url1 "$orphan")"
grep -q "${dead#alpha/}" "$page"

# --check: exactly the two findings, nothing changed anywhere
audit "$good" --check -e repair=all "$@" </dev/null | tee "${OUTPUT_DIR}/audit-check.out"
test "$(audit_findings)" = "$(printf '%s\n' "missing_archived_wheel $(url2 "$dead") False" \
    "orphan_archived_wheel $(url1 "$orphan") False")"
grep -q "Archive host archive1 (${location1}): .* file(s) listed and audited" "${OUTPUT_DIR}/audit-check.out"
grep -q "Archive host archive2 (${location2}): .* file(s) listed and audited" "${OUTPUT_DIR}/audit-check.out"
grep -q 'A real run would repair 2 finding(s)' "${OUTPUT_DIR}/audit-check.out"
served "$(url1 "$orphan")"
grep -q "${dead#alpha/}" "$page"
pending "$location1" '[]' "$@"
pending "$location2" '[]' "$@"
no_listing_left

# The repair: the orphan goes from archive1, the dead link's build from the master
audit "$good" -e repair=all -e confirm=yes "$@" | tee "${OUTPUT_DIR}/audit-repair.out"
test "$(audit_findings | grep archived)" = "$(printf '%s\n' "missing_archived_wheel $(url2 "$dead") True" \
    "orphan_archived_wheel $(url1 "$orphan") True")"
grep -q "archive1 (${location1}): deleted 1 archived wheel" "${OUTPUT_DIR}/audit-repair.out"
gone "$(url1 "$orphan")"
if grep -q "${dead#alpha/}" "$page"; then exit 1; fi
pending "$location1" '[]' "$@"
pending "$location2" '[]' "$@"
no_listing_left

# Again: nothing of the archive kinds is found, nothing is repaired
audit "$good" -e repair=all -e confirm=yes "$@" | tee "${OUTPUT_DIR}/audit-again.out"
test -z "$(audit_findings | grep archived)"
grep -q 'Nothing was repaired on testhost' "${OUTPUT_DIR}/audit-again.out"
grep -qE "testhost +: .* changed=2 +unreachable=0 +failed=0 " "${OUTPUT_DIR}/audit-again.out"  # the two report files

# archive2 unreachable: the master and archive1 are audited, archive2 named as not audited, the run fails at its end
if audit "$unreachable" --check "$@" </dev/null >"${OUTPUT_DIR}/audit-unreachable.out" 2>&1; then exit 1; fi
cat "${OUTPUT_DIR}/audit-unreachable.out"
grep -q "NOT AUDITED: archive host archive2 (${location2}) could not be listed" "${OUTPUT_DIR}/audit-unreachable.out"
grep -q "1 archive host(s) could not be listed, so what they serve was not audited: archive2 at ${location2}" \
    "${OUTPUT_DIR}/audit-unreachable.out"
grep -q "| archive2 | \`${location2}\` | \*\*not audited\*\*" "$reports"/audit-testhost-*.md
grep -q "| archive1 | \`${location1}\` | .* file(s) |" "$reports"/audit-testhost-*.md
no_listing_left
