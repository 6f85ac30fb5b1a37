"""The built collection carries its licence and the links Galaxy shows next to it."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest
from collection_build import build_tarball

# Debian's /usr/share/common-licenses/GPL-3, byte for byte the text the FSF publishes
GPL3_SHA256 = "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> tarfile.TarFile:
    """The collection as `ansible-galaxy collection build` makes it."""
    with tarfile.open(build_tarball(tmp_path_factory.mktemp("galaxy-licence"))) as archive:
        yield archive


def member_bytes(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    assert member is not None, f"{name} is not a regular file in the tarball"
    return member.read()


def test_tarball_ships_the_gpl3_text_as_copying(tarball):
    assert "COPYING" in tarball.getnames()
    text = member_bytes(tarball, "COPYING")
    assert text.startswith(b"                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June")
    assert hashlib.sha256(text).hexdigest() == GPL3_SHA256


def test_manifest_declares_gpl3_or_later(tarball):
    info = json.loads(member_bytes(tarball, "MANIFEST.json"))["collection_info"]
    assert info["license"] == ["GPL-3.0-or-later"]


def test_manifest_links_point_to_the_one_repository(tarball):
    info = json.loads(member_bytes(tarball, "MANIFEST.json"))["collection_info"]
    repository = info["repository"]
    assert repository.startswith("https://")
    assert info["homepage"] == repository
    assert info["issues"] == f"{repository}/issues"
    assert info["documentation"].startswith(f"{repository}/")
