"""The user's own raw files for ``make run RAW=...``: found, checked, and split in two.

The local lifecycle needs traffic for the endpoint and the monitor, with ground truth,
that the model never trained on. With the user's data nothing is generated: a share of
the user's records (chosen by a hash of each record's file name and text, so the same
files always split the same way) is held out before the ETL, in files of the same
format and header as the originals. The rest is the raw zone the lake and the pipeline
see; the held-out files go through the same raw -> processed job on their own, so they
are judged by the same value rules, and their valid rows are the live traffic.

Records are lines, as the ETL reads them (a CSV record may not span lines); a CSV
file's first line is its header and goes to both sides. Files of a format the ETL does
not read are copied to the raw zone unchanged, so its summary lists them as skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from glue.raw_files import CSV, EXTENSIONS, file_format

HASH_BUCKETS = 10_000


class UserDataError(ValueError):
    """The raw path given cannot be used: the message says why and what to do."""


@dataclass
class StagedFiles:
    """What ``stage_user_files`` wrote: per side, the files and their record counts."""

    files: list[Path]
    records: int = 0
    held_out: int = 0
    unreadable: list[Path] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.held_out / self.records if self.records else 0.0


def find_raw_files(path: Path) -> list[Path]:
    """The files at ``path`` (a file, or a folder searched recursively), or a clear error
    when the path does not exist or holds no file the ETL reads."""
    if not path.exists():
        raise UserDataError(f"--raw {path}: no such file or folder")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    readable = [p for p in files if file_format(p.name) is not None]
    if not readable:
        kinds = ", ".join(sorted(EXTENSIONS))
        found = f"{len(files)} file(s), none" if files else "no files"
        raise UserDataError(
            f"--raw {path}: {found} with a supported extension ({kinds}); "
            "give a CSV file with a header line, or a JSON lines file, or a folder of them"
        )
    return files


def held_out(name: str, record: str, share: float) -> bool:
    """Whether a record belongs to the held-out share: a hash of its file name and text."""
    digest = hashlib.sha256(f"{name}\n{record.rstrip()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % HASH_BUCKETS < share * HASH_BUCKETS


def stage_user_files(path: Path, raw_dir: Path, holdout_dir: Path, *, share: float) -> StagedFiles:
    """Copy the user's files under ``path`` into ``raw_dir``, less the held-out records,
    which go to files of the same name (and header) under ``holdout_dir``."""
    if not 0 < share < 1:
        raise ValueError(f"the held-out share must be between 0 and 1, not {share}")
    files = find_raw_files(path)
    base = path if path.is_dir() else path.parent
    staged = StagedFiles(files=files)
    for source in files:
        relative = source.relative_to(base)
        target, holdout = raw_dir / relative, holdout_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fmt = file_format(source.name)
        if fmt is None:
            target.write_bytes(source.read_bytes())
            staged.unreadable.append(source)
            continue
        try:
            lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        except UnicodeDecodeError as error:
            raise UserDataError(
                f"{source}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8"
            ) from None
        header = lines[:1] if fmt == CSV else []
        kept, out = list(header), list(header)
        for line in lines[len(header) :]:
            if not line.strip():
                continue
            staged.records += 1
            if held_out(str(relative), line, share):
                out.append(line if line.endswith("\n") else line + "\n")
                staged.held_out += 1
            else:
                kept.append(line if line.endswith("\n") else line + "\n")
        target.write_text("".join(kept), encoding="utf-8")
        if len(out) > len(header):
            holdout.parent.mkdir(parents=True, exist_ok=True)
            holdout.write_text("".join(out), encoding="utf-8")
    return staged
