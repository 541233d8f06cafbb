"""What a valid S3 bucket name is (plain Python, no Django: console/settings.py checks
ARCHIVE_BUCKET with it at start-up)."""

from __future__ import annotations

import re


def bucket_name_problem(name: str) -> str:
    """Why `name` is not a valid S3 bucket name ("" when it is one): S3's rules for
    general purpose buckets (3-63 characters of a-z, 0-9, '.' and '-', a letter or digit
    at each end, no '..', not shaped like an IP address, none of the reserved forms)."""
    if not 3 <= len(name) <= 63:
        return f"{name!r} is {len(name)} characters long; a bucket name has 3 to 63."
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return (
            f"{name!r} is not a bucket name: use lower-case letters, digits, '.' and '-', "
            "beginning and ending with a letter or a digit."
        )
    if ".." in name or ".-" in name or "-." in name:
        return f"{name!r} is not a bucket name: no '..', '.-' or '-.' in it."
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return f"{name!r} is shaped like an IP address, which a bucket name may not be."
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"{name!r} begins with {prefix!r}, which S3 reserves."
    for suffix in ("-s3alias", "--ol-s3", "--x-s3", ".mrap"):
        if name.endswith(suffix):
            return f"{name!r} ends with {suffix!r}, which S3 reserves."
    return ""
