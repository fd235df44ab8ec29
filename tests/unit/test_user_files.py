"""``--raw``: the user's files are found or refused with a clear message, and split into
raw zone and held-out traffic without losing or inventing a record."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.lake.user_files import UserDataError, find_raw_files, held_out, stage_user_files
from local.run import main

TITANIC = Path(__file__).resolve().parents[1] / "data" / "titanic"


def _records(path: Path) -> list[str]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return lines[1:] if path.suffix == ".csv" else lines


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserDataError, match="no such file or folder"):
        find_raw_files(tmp_path / "nope")


def test_a_folder_without_data_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(UserDataError, match=r"1 file\(s\), none with a supported extension"):
        find_raw_files(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserDataError, match="no files with a supported extension"):
        find_raw_files(empty)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "titanic", "--raw", "no/such/place"], "--raw no/such/place: no such file"),
        (["--dataset", "nosuch", "--raw", str(TITANIC)], "'nosuch' is not a dataset"),
    ],
)
def test_the_run_stops_with_the_message_and_no_traceback(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path / "run")])
    assert message in str(stop.value.code)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(UserDataError, match="not UTF-8 text"):
        stage_user_files(tmp_path, tmp_path / "raw", tmp_path / "held", share=0.25)


def test_staging_keeps_every_record_once_and_headers_on_both_sides(tmp_path: Path) -> None:
    staged = stage_user_files(TITANIC, tmp_path / "raw", tmp_path / "held", share=0.25)
    data = sorted(p for p in TITANIC.iterdir() if p.suffix in (".csv", ".jsonl"))
    assert [p.name for p in staged.files] == sorted(p.name for p in TITANIC.iterdir())
    assert staged.records == sum(len(_records(p)) for p in data) == 891
    assert 0.15 < staged.share < 0.35
    assert [p.name for p in staged.unreadable] == ["README.md"]
    held = 0
    for source in data:
        kept, out = tmp_path / "raw" / source.name, tmp_path / "held" / source.name
        if source.suffix == ".csv":  # the header goes to both sides
            header = source.read_text().splitlines()[0]
            assert kept.read_text().splitlines()[0] == header
            assert out.read_text().splitlines()[0] == header
        assert sorted(_records(kept) + _records(out)) == sorted(_records(source))
        assert all(held_out(source.name, r, 0.25) for r in _records(out))
        held += len(_records(out))
    assert held == staged.held_out
    # The same files split the same way.
    again = stage_user_files(TITANIC, tmp_path / "raw2", tmp_path / "held2", share=0.25)
    assert again.held_out == staged.held_out
    assert (tmp_path / "held2" / "passengers-1.csv").read_text() == (
        tmp_path / "held" / "passengers-1.csv"
    ).read_text()
