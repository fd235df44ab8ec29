"""The CSV fast path of glue/raw_files.py splits a batch of lines exactly as Python's
CSV reader does whenever it takes the batch, and leaves every other batch to it."""

from __future__ import annotations

import csv

from hypothesis import given
from hypothesis import strategies as st

from glue.raw_files import plain_fields

# Fields with the characters that matter to a CSV reader (quotes, commas, blanks, CR).
FIELD = st.text(alphabet=st.sampled_from(list('ab1 ,"\r\t.-')), max_size=5)


@given(st.integers(min_value=1, max_value=4), st.data())
def test_the_fast_path_is_the_csv_reader_where_it_applies(width: int, data) -> None:
    rows = data.draw(st.lists(st.lists(FIELD, min_size=1, max_size=5), min_size=1, max_size=6))
    lines = [",".join(row) for row in rows]
    lines = [line for line in lines if line.strip()]  # the job drops blank lines first
    fields = plain_fields(lines, width)
    if fields is None:
        assert not lines or any('"' in x or "\r" in x or x.count(",") != width - 1 for x in lines)
        return
    parsed = [next(csv.reader([line])) for line in lines]
    assert all(len(row) == width for row in parsed)
    assert fields == [field for row in parsed for field in row]


def test_a_quoted_or_short_line_sends_the_batch_to_the_csv_reader() -> None:
    assert plain_fields(["a,b", "c,d"], 2) == ["a", "b", "c", "d"]
    assert plain_fields(['a,"b"', "c,d"], 2) is None
    assert plain_fields(["a,b", "c"], 2) is None
