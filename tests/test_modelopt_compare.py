"""helpers.modelopt_compare: reading back the comparison record that notebook 05 shows."""

import json

import pytest

from helpers.config import TutorialError
from helpers.modelopt_compare import SCHEMA, load_comparison


def test_a_record_of_this_version_is_read_back(tmp_path):
    path = tmp_path / "modelopt_comparison.json"
    path.write_text(json.dumps({"schema": SCHEMA, "graphs": {}}))
    assert load_comparison(path) == {"schema": SCHEMA, "graphs": {}}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ('{"schema": ', "not valid JSON"),
    ('{"schema": "something-else"}', "not a ModelOpt comparison of this version"),
    ("[1, 2]", "not a ModelOpt comparison of this version"),
])
def test_bad_records_get_a_message_that_says_what_to_do(tmp_path, content, message):
    path = tmp_path / "modelopt_comparison.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TutorialError, match=message):
        load_comparison(path)
