"""The two source patches the XGBoost 3.2-0 image's Dockerfile applies, applied to a venv.

* ``sagemaker_containers/_mapping.py``: ``collections.Mapping`` -> ``collections.abc.Mapping``
  (the Dockerfile's ``sed``; Python 3.10 removed the old name).
* ``sagemaker_inference/decoder.py``: the image replaces the file with its own
  (``resources/patches/decoder.py``, CWE-502). We do not copy that file: we make its two
  behavioural changes to the PyPI original, NPY bodies loaded with ``allow_pickle=False``
  and a CSV body numpy cannot parse raised as ``UnsupportedFormatError``.

Each edit names the exact text it replaces and fails when that text is missing (a new
version of a package), so an image upgrade cannot silently skip a patch. Run by
``make install`` as ``python -m local.image.patches <site-packages>``; applying twice is
a no-op.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Edit:
    """Replace every ``old`` with ``new`` in ``path`` (relative to site-packages)."""

    path: str
    old: str
    new: str


EDITS = (
    Edit(
        "sagemaker_containers/_mapping.py",
        "collections.Mapping",
        "collections.abc.Mapping",
    ),
    Edit(
        "sagemaker_inference/decoder.py",
        "return np.load(stream, allow_pickle=True)",
        "return np.load(stream, allow_pickle=False)",
    ),
    Edit(
        "sagemaker_inference/decoder.py",
        "    stream = StringIO(string_like)\n"
        '    return np.genfromtxt(stream, dtype=dtype, delimiter=",")\n',
        "    try:\n"
        "        stream = StringIO(string_like)\n"
        '        return np.genfromtxt(stream, dtype=dtype, delimiter=",")\n'
        "    except ValueError:\n"
        "        raise errors.UnsupportedFormatError(content_types.CSV)\n",
    ),
)


def apply(site_packages: Path) -> list[str]:
    """Apply every edit under ``site_packages``; returns what was changed."""
    changed = []
    for edit in EDITS:
        target = site_packages / edit.path
        text = target.read_text()
        if edit.new in text and edit.old not in text.replace(edit.new, ""):
            continue  # applied before
        if edit.old not in text:
            raise SystemExit(f"{target}: the patched text is missing: {edit.old!r}")
        # A new file, renamed over the old: uv hard-links installed files to its cache,
        # and writing in place would patch the cache (and every venv made from it).
        staged = target.with_suffix(".patched")
        staged.write_text(text.replace(edit.old, edit.new))
        os.replace(staged, target)
        changed.append(f"{edit.path}: {edit.old.strip().splitlines()[-1]!r}")
    return changed


def main(argv: list[str] | None = None) -> None:
    """``python -m local.image.patches SITE_PACKAGES``."""
    parser = argparse.ArgumentParser(description="Apply the XGBoost image's source patches.")
    parser.add_argument("site_packages", type=Path)
    args = parser.parse_args(argv)
    for line in apply(args.site_packages):
        print(f"patched {line}", file=sys.stderr)


if __name__ == "__main__":
    main()
