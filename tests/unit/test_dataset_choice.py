"""`python -m local.run --dataset X` chooses the dataset once, at the top: an unknown one
stops before anything is touched, and a known one reaches the synth it runs as
`-c dataset=X`, so every synthesized resource follows it."""

from __future__ import annotations

from pathlib import Path

import pytest

import local.run


class _SynthCalledError(Exception):
    pass


def test_an_unknown_dataset_stops_before_the_last_run_is_cleared(tmp_path: Path) -> None:
    out = tmp_path / "local-run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        local.run.main(["--dataset", "nope", "--out", str(out)])
    assert str(exit_.value.code).startswith(
        "-c dataset: 'nope' is not a dataset in config/datasets/; fix: use one of churn"
    )
    assert (out / "summary.json").read_text() == "{}"


def test_the_dataset_reaches_the_synth(tmp_path: Path, monkeypatch) -> None:
    seen: list[object] = []

    def fake_synth(outdir: Path, extra_context: dict[str, object] | None = None) -> None:
        seen.append(extra_context)
        raise _SynthCalledError

    monkeypatch.setattr(local.run, "synth_and_check", fake_synth)
    with pytest.raises(_SynthCalledError):
        local.run.main(["--dataset", "house_prices", "--out", str(tmp_path / "run")])
    assert seen == [{"dataset": "house_prices"}]
