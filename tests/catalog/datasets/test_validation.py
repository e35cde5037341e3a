"""Validating files: every bad record is reported with file, line, field and a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_sxwl.catalog.datasets import (
    DatasetFormat,
    DatasetValidationError,
    iter_records,
    validate_file,
)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def where(report) -> list[tuple[int | None, str | None]]:  # type: ignore[no-untyped-def]
    return [(e.line, e.field) for e in report.errors]


def test_jsonl_broken_line_is_reported_and_validation_continues(tmp_path: Path) -> None:
    path = write(
        tmp_path / "train.jsonl",
        '{"instruction": "a", "output": "b"}\n'
        '{"instruction": "broken", "output": "no brace"\n'
        "\n"
        '{"input": "x", "output": "y"}\n'
        '{"instruction": "c", "output": 5}\r\n'
        '{"instruction": "d", "output": "e"}',
    )
    report = validate_file(path, "instruction")
    assert (report.records, report.valid, report.invalid) == (5, 2, 3)
    assert where(report) == [(2, None), (4, "instruction"), (5, "output")]
    assert all(e.file == "train.jsonl" for e in report.errors)
    assert "not valid JSON" in report.errors[0].message
    assert "missing required field 'instruction'" in report.errors[1].message
    assert "must be a string" in report.errors[2].message
    assert str(report.errors[1]).startswith("train.jsonl:4: instruction: ")
    assert not report.ok and report.complete


def test_file_name_shown_can_be_the_uploaded_name(tmp_path: Path) -> None:
    path = write(tmp_path / "upload-1234.part", '{"output": "y"}\n')
    report = validate_file(path, "instruction", "jsonl", file_name="my data.jsonl")
    assert str(report.errors[0]).startswith("my data.jsonl:1: instruction:")


def test_every_type_reports_exact_lines(tmp_path: Path) -> None:
    qa = write(
        tmp_path / "qa.jsonl",
        '{"Query": "q", "Answer": "a"}\n{"query": "q", "Answer": "a"}\n',
    )
    report = validate_file(qa, "qa")
    assert where(report) == [(2, "query")]
    assert "did you mean 'Query'" in report.errors[0].message

    ranking = write(
        tmp_path / "rank.jsonl",
        json.dumps({"prompt": "p", "candidates": [{"text": "a"}, {"text": "b"}]})
        + "\n"
        + json.dumps(
            {
                "prompt": "p",
                "candidates": [
                    {"text": "a", "relevance_rank": 1},
                    {"text": "b", "relevance_rank": 1},
                ],
            }
        )
        + "\n",
    )
    assert where(validate_file(ranking, "ranking")) == [(2, "candidates[1].relevance_rank")]

    chats = write(
        tmp_path / "chat.jsonl",
        json.dumps({"conversations": [{"from": "human", "value": "a"}]}) + "\n",
    )
    assert where(validate_file(chats, "sharegpt")) == [(1, "conversations")]


def test_not_utf8_names_the_line_and_the_fix(tmp_path: Path) -> None:
    latin1 = write(
        tmp_path / "latin1.jsonl",
        b'{"instruction": "a", "output": "b"}\n{"instruction": "caf\xe9", "output": "b"}\n',
    )
    report = validate_file(latin1, "instruction")
    [error] = report.errors
    assert error.line == 2 and error.field is None
    assert "not UTF-8 at line 2" in error.message and "re-save the file as UTF-8" in error.message
    assert not report.complete and report.records == 1

    gbk = write(
        tmp_path / "gbk.csv",
        "instruction,output\nhello,world\n指令,回答\n".encode("gbk"),
    )
    report = validate_file(gbk, "instruction")
    assert [(e.line, e.field) for e in report.errors] == [(3, None)]
    assert "not UTF-8 at line 3" in report.errors[0].message


def test_not_utf8_line_is_exact_across_chunks(tmp_path: Path) -> None:
    good = '{"instruction": "中文指令", "output": "b"}\n'
    path = write(tmp_path / "big.jsonl", (good * 500).encode() + b'{"instruction": "\xff"}\n')
    report = validate_file(path, "instruction", chunk_size=1000)  # chunks split characters
    assert report.records == 500 and report.valid == 500
    assert where(report) == [(501, None)]


def test_bom_is_accepted(tmp_path: Path) -> None:
    for name, text in [
        ("a.jsonl", '{"instruction": "a", "output": "b"}\n'),
        ("a.json", '[{"instruction": "a", "output": "b"}]'),
        ("a.csv", "instruction,output\na,b\n"),
    ]:
        report = validate_file(write(tmp_path / name, b"\xef\xbb\xbf" + text.encode()), "alpaca")
        assert report.ok, (name, report.errors)
        assert report.records == 1


def test_csv_multiline_cells_keep_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "data.csv",
        "instruction,input,output,history\n"
        'first,"line one\nline two\nline three",ok,\n'
        ",x,y,\n"
        'third,,"an ""answer"", with commas",\'not json\n'
        'fourth,,z,"[[""q"", ""a""]]"\n'
        "fifth,only two cells\n",
    )
    report = validate_file(path, "instruction")
    assert report.records == 5
    assert where(report) == [(5, "instruction"), (6, "history"), (8, None)]
    assert "not valid JSON" in report.errors[1].message
    assert "the row has 2 cells but the header has 4" in report.errors[2].message
    records = list(iter_records(path, "instruction", skip_invalid=True))
    assert [r.line for r in records] == [2, 7]
    assert records[0].data["input"] == "line one\nline two\nline three"
    assert records[1].data["history"] == [["q", "a"]]


def test_csv_list_fields_take_json_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qa.csv",
        "text,Query,Answer,Match,File,Similar-Question\n"
        'doc.pdf,How?,Like this,yes,p3,"[""How so?"", ""Why?""]"\n'
        "doc.pdf,How?,Like this,,,\n",
    )
    assert validate_file(path, "qa").ok
    [first, second] = iter_records(path, "qa")
    assert first.data["Similar-Question"] == ["How so?", "Why?"]
    assert second.data["Similar-Question"] == []


def test_json_array_records_across_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "data.json",
        "[\n"
        '  {"instruction": "a",\n'
        '   "output": "b"},\n'
        "  {\n"
        '    "instruction": "",\n'
        '    "output": "d"\n'
        "  },\n"
        '  {"instruction": "e", "output": "f"}\n'
        "]\n",
    )
    report = validate_file(path, "instruction")
    assert report.format is DatasetFormat.JSON
    assert (report.records, report.valid) == (3, 2)
    assert where(report) == [(4, "instruction")]
    # tiny chunks: records and strings split across reads keep their lines
    small = validate_file(path, "instruction", chunk_size=7)
    assert where(small) == [(4, "instruction")] and small.records == 3
    assert [r.line for r in iter_records(path, "instruction", skip_invalid=True)] == [2, 8]


def test_json_array_syntax_error_stops_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "data.json",
        '[\n{"instruction": "a", "output": "b"},\n{"instruction": "a" "output": "b"},\n'
        '{"instruction": "a", "output": "b"}\n]',
    )
    report = validate_file(path, "instruction")
    [error] = report.errors
    assert error.line == 3 and "invalid JSON" in error.message
    assert not report.complete and report.valid == 1

    unclosed = write(tmp_path / "unclosed.json", '[{"instruction": "a", "output": "b"},\n')
    report = validate_file(unclosed, "instruction")
    assert report.valid == 1 and "not closed" in report.errors[0].message

    not_array = write(tmp_path / "obj.json", '"just a string"')
    report = validate_file(not_array, "instruction")
    assert "must start with '['" in report.errors[0].message


def test_json_file_with_one_object_per_line_is_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "data.json", '{"instruction": "a", "output": "b"}\n' * 2)
    report = validate_file(path, "instruction")
    assert report.format is DatasetFormat.JSONL and report.ok and report.records == 2


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.json", "empty.csv", "blank.jsonl"])
def test_empty_file_has_no_records(tmp_path: Path, name: str) -> None:
    text = "\n\n  \n" if name.startswith("blank") else ""
    report = validate_file(write(tmp_path / name, text), "instruction")
    [error] = report.errors
    assert error.line is None and "the file has no records" in error.message
    assert not report.ok


def test_csv_header_only_has_no_records(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path / "h.csv", "instruction,output\n"), "instruction")
    assert "the file has no records" in report.errors[0].message


def test_max_errors_caps_the_list_but_counts_all(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"output": "b"}\n' * 50)
    report = validate_file(path, "instruction", max_errors=10)
    assert len(report.errors) == 10 and report.error_count == 50 and report.truncated
    assert report.invalid == 50
    assert [e.line for e in report.errors] == list(range(1, 11))
    assert "first 10 listed" in report.summary()


def test_iter_records_yields_normalised_records_or_raises(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        '{"instruction": "a", "output": "b", "note": "dropped"}\n'
        '{"instruction": "c", "input": "i", "output": "d", "history": [["q", "r"]]}\n'
        '{"instruction": "", "output": "d"}\n',
    )
    with pytest.raises(DatasetValidationError, match=r"d\.jsonl:3: instruction: ") as info:
        list(iter_records(path, "instruction"))
    assert info.value.error.line == 3
    records = list(iter_records(path, "alpaca", skip_invalid=True))
    assert records[0].data == {
        "instruction": "a",
        "input": "",
        "output": "b",
        "system": "",
        "history": [],
    }
    assert records[1].line == 2 and records[1].data["history"] == [["q", "r"]]

    latin1 = write(tmp_path / "l.jsonl", b'{"instruction": "\xe9", "output": "b"}\n')
    with pytest.raises(DatasetValidationError, match="not UTF-8 at line 1"):
        list(iter_records(latin1, "instruction", skip_invalid=True))


def test_unknown_format_is_explained(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path / "data.txt", "hello\n"), "instruction")
    assert "name it .jsonl, .json or .csv" in report.errors[0].message
    with pytest.raises(ValueError, match="use jsonl, json or csv"):
        validate_file(tmp_path / "data.txt", "instruction", fmt="xml")


def test_ranking_csv_and_sharegpt_json(tmp_path: Path) -> None:
    candidates = json.dumps(
        [{"text": "A", "relevance_rank": 1}, {"text": "B", "relevance_rank": 1}]
    ).replace('"', '""')
    ranking = write(
        tmp_path / "rank.csv",
        f'prompt,candidates\np,"[{{""text"": ""A""}}, {{""text"": ""B""}}]"\nq,"{candidates}"\n',
    )
    report = validate_file(ranking, "ranking")
    assert where(report) == [(3, "candidates[1].relevance_rank")]
    [record] = iter_records(ranking, "ranking", skip_invalid=True)
    assert record.data["candidates"][0] == {
        "text": "A",
        "relevance_rank": None,
        "safety_rank": None,
    }

    chats = write(
        tmp_path / "chats.json",
        json.dumps(
            [
                {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
                {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            ],
            indent=2,
        ),
    )
    report = validate_file(chats, "sharegpt")
    assert report.records == 2 and where(report) == [(14, "messages[1].role")]  # its "{" line
