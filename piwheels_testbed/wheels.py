"""Real, minimal wheel files: small enough to make by the thousand, valid for pip."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile


def dist_name(package: str) -> str:
    """The distribution part of a wheel file name (PEP 427 escaping)."""
    return package.replace("-", "_")


def wheel_filename(package: str, version: str, tag: str) -> str:
    return f"{dist_name(package)}-{version}-{tag}.whl"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel_bytes(package: str, version: str, tag: str, requires_python: str | None = None) -> bytes:
    """The bytes of a wheel holding one module and complete dist-info metadata."""
    dist_info = f"{dist_name(package)}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    members = {
        f"{dist_name(package)}.py": f"__version__ = {version!r}\n".encode(),
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: piwheels-testbed\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ).encode(),
    }
    record = [_record_line(name, data) for name, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return buffer.getvalue()
