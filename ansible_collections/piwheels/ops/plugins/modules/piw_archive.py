#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_archive
short_description: Remove wheels from a piwheels archive server's tree, or list the tree
version_added: 0.4.0
description:
  - Runs on an archive server, a host that serves old wheels as C({location}/{package}/{filename}) from
    C(<root>/simple/<package>/<filename>) (the C(files.location) of their rows is not C(/simple)).
  - With O(state=absent) it removes the wheels O(files) names, so that the server no longer serves them; each is
    renamed into a staging directory on the same file system (C(<root>/.piw-archive-staging/<random>/)), then
    unlinked; the directories are synced before the module returns.
  - With O(state=listed) it writes every C(package/filename) under C(<root>/simple) to O(listing) on the archive
    host, for an audit to compare with the database's rows; the result gives the listing's path, line count and
    SHA-256, never the names themselves, so a million files make a small result.
  - Python standard library only (an archive server has no pyzmq); it never talks to Mr Chase. The
    C(piwheels.ops.remove) and C(piwheels.ops.archive_sync) runbooks call it on every host of the inventory group
    C(piwheels_archive) for the files Mr Chase lists as pending (P(piwheels.ops.piw_archive_pending#module)).
author:
  - piwheels.ops maintainers (@piwheels)
options:
  root:
    description:
      - The archive root, the directory holding C(simple/<package>/<filename>), the host variable
        C(piw_archive_root) of the runbooks' inventory.
      - An absolute path to an existing directory; C(<root>/simple) must be a directory, not a symbolic link.
    type: path
    required: true
  state:
    description:
      - V(absent) removes O(files); V(listed) writes the listing of the tree to O(listing).
    type: str
    choices: [absent, listed]
    default: absent
  files:
    description:
      - The wheels to remove, with O(state=absent). Each is C(<root>/simple/<package>/<filename>).
      - A name that could leave the root is refused before anything is removed, and so is the whole task;
        an empty name, V(.) or V(..), one holding a slash or a NUL character, and a filename not ending in C(.whl).
      - A package directory that is a symbolic link is refused, and so is a wheel that is a symbolic link whose
        target leaves the root. A link to another wheel (upstream's C(armv6l) links to the C(armv7l) wheel) is
        removed like a file (the link, never its target).
    type: list
    elements: dict
    default: []
    suboptions:
      package:
        description: The package's directory name under C(<root>/simple), as the wheel's row has it.
        type: str
        required: true
      filename:
        description: The wheel's file name.
        type: str
        required: true
  listing:
    description:
      - With O(state=listed), the absolute path on the archive host of the listing to write, one
        C(package/filename) per line, in the order the file system gives them (sort it to compare), written to a
        temporary file next to it and renamed over it, so a reader never sees half a listing.
      - Its directory must exist, and it may not be inside C(<root>/simple), which the server serves.
      - Names holding a line break cannot be listed; they are counted in RV(unlisted) and a warning says so.
    type: path
attributes:
  check_mode:
    support: full
    details:
      - With O(state=absent) nothing is renamed or removed; the result says which files would go.
      - With O(state=listed) the tree is read and hashed, but the listing is not written.
  diff_mode:
    support: full
    details:
      - With O(state=absent) the diff lists, as C(package/filename) lines, the wheels that go (or would go).
  idempotent:
    support: full
extends_documentation_fragment:
  - piwheels.ops.mr_chase.attributes
notes:
  - Run it as the user that owns the archive tree, the archive web server's user (the inventory's
    C(piw_archive_become_user)); another user may not rename out of the package directories.
  - A staging directory left by an interrupted run holds only wheels that were already out of the served tree;
    the next run with O(state=absent) empties and removes it.
seealso:
  - module: piwheels.ops.piw_archive_pending
"""

EXAMPLES = r"""
- name: Remove two archived wheels from this archive server
  piwheels.ops.piw_archive:
    root: /srv/archive
    files:
      - {package: foo, filename: foo-1.0-cp311-cp311-linux_armv7l.whl}
      - {package: foo, filename: foo-1.0-cp311-cp311-linux_armv6l.whl}
  become: true
  become_user: www-data

- name: List the archive tree for an audit
  piwheels.ops.piw_archive:
    root: /srv/archive
    state: listed
    listing: /var/tmp/archive-listing.txt
  register: listed

- name: Fetch the listing
  ansible.builtin.fetch:
    src: "{{ listed.listing }}"
    dest: "listings/{{ inventory_hostname }}.txt"
    flat: true
"""

RETURN = r"""
removed:
  description: The wheels removed (in check mode, that would be removed), in the order of O(files).
  returned: O(state=absent)
  type: list
  elements: dict
  sample: [{package: foo, filename: foo-1.0-cp311-cp311-linux_armv7l.whl}]
already_absent:
  description: The wheels of O(files) the tree did not hold; nothing was done for them.
  returned: O(state=absent)
  type: list
  elements: dict
  sample: []
listing:
  description: The path of the listing written (in check mode, that would be written).
  returned: O(state=listed)
  type: str
  sample: /var/tmp/archive-listing.txt
count:
  description: How many C(package/filename) lines the listing holds.
  returned: O(state=listed)
  type: int
  sample: 1048576
sha256:
  description: The SHA-256 of the listing's content; the task is C(changed) when it differs from the file it replaces.
  returned: O(state=listed)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
unlisted:
  description: How many names under C(<root>/simple) hold a line break and were left out of the listing.
  returned: O(state=listed)
  type: int
  sample: 0
msg:
  description: What went wrong, or what was done.
  returned: always
  type: str
  sample: removed 2 wheels from /srv/archive/simple
"""

import errno
import hashlib
import os
import secrets
import stat

from ansible.module_utils.basic import AnsibleModule

STAGING = ".piw-archive-staging"
SIMPLE = "simple"
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Refused(Exception):
    """A name or a link the module will not touch; the message says which and why."""


class PartlyRemoved(Exception):
    """Removing failed after ``removed`` had left the served tree: the task changed something and must say so."""

    def __init__(self, message, removed):
        super().__init__(message)
        self.removed = removed


def argument_spec():
    return dict(
        root=dict(type="path", required=True),
        state=dict(type="str", choices=["absent", "listed"], default="absent"),
        files=dict(type="list", elements="dict", default=[], options=dict(
            package=dict(type="str", required=True),
            filename=dict(type="str", required=True),
        )),
        listing=dict(type="path"),
    )


def name_problem(kind, name):
    """Why ``name`` may not be a path component of the tree (it could leave the root), or None."""
    if not name:
        return f"an empty {kind}"
    if name in (".", ".."):
        return f"{kind} {name!r}, which names a directory, not an entry in it"
    if "/" in name or "\x00" in name:
        return f"{kind} {name!r}, which holds a slash or a NUL character"
    if kind == "filename" and not name.endswith(".whl"):
        return f"filename {name!r}, which is not a wheel (.whl)"
    return None


def check_names(files):
    """Refuse the whole task when any entry of ``files`` has a name that could leave the root."""
    for entry in files:
        for kind in ("package", "filename"):
            problem = name_problem(kind, entry[kind])
            if problem:
                raise Refused(f"refusing {problem} (in {entry!r}): nothing was removed")


def open_simple(root):
    """Open ``<root>/simple`` as a directory descriptor, refusing a relative root and a symlinked ``simple``."""
    if not os.path.isabs(root):
        raise Refused(f"root must be an absolute path, got {root!r}")
    if not os.path.isdir(root):
        raise Refused(f"root {root} is not a directory")
    try:
        return os.open(os.path.join(root, SIMPLE), _DIRECTORY_FLAGS)
    except FileNotFoundError:
        raise Refused(f"root {root} has no directory {SIMPLE}: is piw_archive_root the archive's root?") from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"{os.path.join(root, SIMPLE)} is a symbolic link or not a directory: refused") from None
        raise


def is_present(simple_fd, root, entry):
    """Whether the wheel of ``entry`` is in the tree (True) or not (False); Refused if touching it could leave
    the root: a symlinked package directory, or a symlinked wheel whose target is outside ``root``."""
    package, filename = entry["package"], entry["filename"]
    try:
        package_fd = os.open(package, _DIRECTORY_FLAGS, dir_fd=simple_fd)
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"{SIMPLE}/{package} under {root} is a symbolic link or not a directory: refused, "
                          "nothing was removed") from None
        raise
    try:
        info = os.stat(filename, dir_fd=package_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    finally:
        os.close(package_fd)
    if stat.S_ISDIR(info.st_mode):
        raise Refused(f"{SIMPLE}/{package}/{filename} under {root} is a directory: refused, nothing was removed")
    if stat.S_ISLNK(info.st_mode):
        check_link(root, package, filename)
    return True


def check_link(root, package, filename):
    """Refuse a symlinked wheel whose target, resolved, is not inside ``root``."""
    link = os.path.join(root, SIMPLE, package, filename)
    target = os.path.realpath(link)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, target]) != real_root:
        raise Refused(f"{SIMPLE}/{package}/{filename} under {root} is a symbolic link to {target}, outside the "
                      "root: refused, nothing was removed")


def open_staging(root):
    """Create ``<root>/.piw-archive-staging/<random>/`` (private) and return descriptors of it and its parent."""
    parent = os.path.join(root, STAGING)
    os.makedirs(parent, mode=0o700, exist_ok=True)
    parent_fd = os.open(parent, _DIRECTORY_FLAGS)
    name = secrets.token_hex(8)
    os.mkdir(name, mode=0o700, dir_fd=parent_fd)
    return parent_fd, name, os.open(name, _DIRECTORY_FLAGS, dir_fd=parent_fd)


def empty_leftovers(root):
    """Empty and remove the staging directories an interrupted run left: they hold only unserved wheels."""
    parent = os.path.join(root, STAGING)
    if not os.path.isdir(parent) or os.path.islink(parent):
        return
    with os.scandir(parent) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                for leftover in os.listdir(entry.path):
                    os.unlink(os.path.join(entry.path, leftover))
                os.rmdir(entry.path)


def remove(simple_fd, root, present):
    """Rename each wheel of ``present`` into a fresh staging directory, then unlink them; return those removed.

    The rename takes the wheel out of the served tree at once (a link is
    renamed as a link, never followed) and its package directory is synced
    right after, so a wheel reported removed stays removed after a crash;
    the unlinks and the staging directory's removal are synced at the end.
    """
    try:
        empty_leftovers(root)
        parent_fd, name, staging_fd = open_staging(root)
    except OSError as error:
        raise PartlyRemoved(cannot_remove(root, error), []) from None
    removed = []
    try:
        for index, entry in enumerate(present):
            package_fd = os.open(entry["package"], _DIRECTORY_FLAGS, dir_fd=simple_fd)
            try:
                os.rename(entry["filename"], f"{index}.whl", src_dir_fd=package_fd, dst_dir_fd=staging_fd)
                os.fsync(package_fd)
            finally:
                os.close(package_fd)
            removed.append(entry)
        for index in range(len(removed)):
            os.unlink(f"{index}.whl", dir_fd=staging_fd)
        os.fsync(staging_fd)
        os.rmdir(name, dir_fd=parent_fd)
        os.fsync(parent_fd)
    except OSError as error:
        raise PartlyRemoved(cannot_remove(root, error), removed) from None
    finally:
        os.close(staging_fd)
        os.close(parent_fd)
    return removed


def cannot_remove(root, error):
    return (f"cannot remove wheels from {root}/{SIMPLE}: {error}; run the task as the archive's owner, the archive "
            "web server's user (piw_archive_become_user)")


def absent(module):
    """state=absent: refuse bad names and links before anything, then remove what the tree holds."""
    root, files = module.params["root"], [dict(package=f["package"], filename=f["filename"])
                                          for f in module.params["files"]]
    check_names(files)
    simple_fd = open_simple(root)
    try:
        seen = set()
        present, already_absent = [], []
        for entry in files:
            key = (entry["package"], entry["filename"])
            if key in seen:
                continue
            seen.add(key)
            (present if is_present(simple_fd, root, entry) else already_absent).append(entry)
        result = dict(changed=bool(present), removed=present, already_absent=already_absent)
        if module._diff:
            result["diff"] = dict(before_header=f"{root}/{SIMPLE}", after_header=f"{root}/{SIMPLE}",
                                  before="".join(f"{e['package']}/{e['filename']}\n" for e in present), after="")
        verb = "would remove" if module.check_mode else "removed"
        result["msg"] = f"{verb} {len(present)} of {len(files)} wheels from {root}/{SIMPLE}"
        if present and not module.check_mode:
            remove(simple_fd, root, present)
        return result
    finally:
        os.close(simple_fd)


def listed_lines(root):
    """Yield ``(package, filename)`` (bytes, as the file system has them) for every entry that is not a directory
    in each package directory under ``<root>/simple``, one directory at a time: nothing is gathered in memory.
    A package directory that is a symbolic link is not followed."""
    simple = os.fsencode(os.path.join(root, SIMPLE))
    with os.scandir(simple) as packages:
        for package in packages:
            if not package.is_dir(follow_symlinks=False):
                continue
            with os.scandir(package.path) as wheels:
                for wheel in wheels:
                    if not wheel.is_dir(follow_symlinks=False):
                        yield package.name, wheel.name


def stream_listing(root, out=None):
    """Hash every ``package/filename`` line of the tree, writing each to ``out`` when given; return the SHA-256,
    the number of lines and the number of names left out because they hold a line break."""
    digest, count, unlisted = hashlib.sha256(), 0, 0
    for package, wheel in listed_lines(root):
        if b"\n" in package + wheel or b"\r" in package + wheel:
            unlisted += 1
            continue
        line = package + b"/" + wheel + b"\n"
        digest.update(line)
        count += 1
        if out is not None:
            out.write(line)
    return digest.hexdigest(), count, unlisted


def write_listing(root, listing):
    """Write the listing to a temporary file beside ``listing``, synced, and rename it over ``listing`` when its
    content differs; return what stream_listing returns, and whether the listing changed."""
    temporary = f"{listing}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temporary, "xb") as out:
            sha256, count, unlisted = stream_listing(root, out)
            out.flush()
            os.fsync(out.fileno())
        changed = sha256 != existing_sha256(listing)
        if changed:
            os.chmod(temporary, 0o644)
            os.rename(temporary, listing)
            sync_directory_of(listing)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return sha256, count, unlisted, changed


def check_listing_path(root, listing):
    """Refuse a relative listing, one whose directory is missing, and one the archive would serve."""
    if not os.path.isabs(listing):
        raise Refused(f"listing must be an absolute path on the archive host, got {listing!r}")
    directory = os.path.dirname(listing)
    if not os.path.isdir(directory):
        raise Refused(f"the directory of listing ({directory}) does not exist")
    served = os.path.realpath(os.path.join(root, SIMPLE))
    if os.path.commonpath([served, os.path.realpath(directory)]) == served:
        raise Refused(f"listing {listing} is inside {served}, which the archive serves: write it elsewhere")


def listed(module):
    """state=listed: stream the tree into the listing (in check mode, only into a hash)."""
    root, listing = module.params["root"], module.params["listing"]
    check_listing_path(root, listing)
    os.close(open_simple(root))  # refuses a relative root, a missing or symlinked simple
    if module.check_mode:
        sha256, count, unlisted = stream_listing(root)
        changed = sha256 != existing_sha256(listing)
    else:
        sha256, count, unlisted, changed = write_listing(root, listing)
    if unlisted:
        module.warn(f"{unlisted} names under {root}/{SIMPLE} hold a line break and are not in the listing")
    verb = "would list" if module.check_mode else "listed"
    return dict(changed=changed, listing=listing, count=count, sha256=sha256, unlisted=unlisted,
                msg=f"{verb} {count} wheels of {root}/{SIMPLE} in {listing}")


def existing_sha256(path):
    """The SHA-256 of the file at ``path``, read in blocks; None when there is none."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as existing:
            for block in iter(lambda: existing.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def sync_directory_of(path):
    """Make the rename of the file at ``path`` durable."""
    fd = os.open(os.path.dirname(path), _DIRECTORY_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "listed", ("listing",))])
    try:
        result = absent(module) if module.params["state"] == "absent" else listed(module)
    except Refused as error:
        module.fail_json(msg=str(error), changed=False)
    except PartlyRemoved as error:
        module.fail_json(msg=str(error), changed=bool(error.removed), removed=error.removed)
    except OSError as error:
        module.fail_json(msg=f"cannot read the archive tree under {module.params['root']}: {error}", changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
