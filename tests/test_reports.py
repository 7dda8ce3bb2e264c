"""Every marked table in the README is what the report command writes from the committed records."""

from tinybert_lab import reports


def test_the_readme_tables_match_their_records():
    text = reports.README.read_text()
    assert reports.render(text) == text, "README.md is out of step with the records: run python -m tinybert_lab.reports"


def test_a_changed_number_is_caught(tmp_path):
    readme = tmp_path / "README.md"
    text = reports.README.read_text()
    start = text.index("<!-- report:lm_tokenizer -->")
    readme.write_text(text[:start] + text[start:].replace("|", "| 9", 1))  # a digit slipped into a table
    assert reports.main(["--check", "--readme", str(readme)]) == 1
    assert reports.main(["--readme", str(readme)]) == 0 and reports.main(["--check", "--readme", str(readme)]) == 0
