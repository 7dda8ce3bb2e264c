"""Every marked table in the README is what the report command writes from the committed records."""

from tinybert_lab import reports


def test_the_readme_tables_match_their_records():
    text = reports.README.read_text()
    assert reports.render(text) == text, "README.md is out of step with the records: run python -m tinybert_lab.reports"


def test_the_workshop_guides_times_match_their_record():
    text = reports.WORKSHOP.read_text()
    assert reports.render(text, reports.WORKSHOP_TABLES, "workshop.md") == text, \
        "docs/workshop.md is out of step with benchmarks/results/tutorial_times.json: run python -m tinybert_lab.reports"


def test_a_changed_number_is_caught(tmp_path):
    readme, workshop = tmp_path / "README.md", tmp_path / "workshop.md"
    text = reports.README.read_text()
    start = text.index("<!-- report:lm_tokenizer -->")
    readme.write_text(text[:start] + text[start:].replace("|", "| 9", 1))  # a digit slipped into a table
    workshop.write_text(reports.WORKSHOP.read_text())
    files = ["--readme", str(readme), "--workshop", str(workshop)]
    assert reports.main(["--check", *files]) == 1
    assert reports.main(files) == 0 and reports.main(["--check", *files]) == 0


def test_every_committed_run_names_its_own_command_machine_and_code_state():
    import json
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob("*.json")):
        for run in json.loads(path.read_text())["runs"]:
            assert run.get("command", "").startswith("python benchmarks/"), (path.name, run)
            assert run["command"].split()[1] == f"benchmarks/{path.stem}.py", (path.name, run["command"])
            assert run.get("machine") and "uncommitted_changes" in run, (path.name, run)
