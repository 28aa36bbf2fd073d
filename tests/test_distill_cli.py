"""`cohesive teachers|distill ...`: mistakes give one line and exit code 2."""

import pytest

from cohesive.cli import main


@pytest.mark.parametrize("argv,needle", [
    (["distill", "train", "--set", "cache_dir=/nonexistent/cache"], "/nonexistent/cache"),
    (["distill", "train", "--set", "mode=teleport"], "unknown mode 'teleport'"),
    (["distill", "train", "--set", "confidence=vibes"], "unknown teacher confidence 'vibes'"),
    (["distill", "cache", "--set", "teachers=[]"], "no teachers configured"),
    (["distill", "cache", "--set", "teachers=[/nonexistent/teacher]"], "/nonexistent/teacher"),
    (["distill", "compare", "--set", "variants=[mlm,magic]"], "unknown variant(s) magic"),
    (["teachers", "build", "--config", "missing.yaml"], "config file missing.yaml not found"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cohesive: error:") and needle in err[0], err


def test_evaluate_scores_models_on_the_same_masks(capsys, tmp_path, tiny_teachers):
    import json

    first, second = str(tiny_teachers[0]), str(tiny_teachers[1])
    code = main(["distill", "evaluate", "--models", first, second, first, "--output", str(tmp_path / "mlm.json"),
                 "--set", "domains=[wordnet]", "--set", "per_domain=8", "--set", "seq_len=32"])
    rows = json.loads((tmp_path / "mlm.json").read_text())["results"]
    assert code == 0 and [r["model"] for r in rows] == [first, second, first]
    assert rows[0] == rows[2] and rows[0]["loss"] != rows[1]["loss"] and rows[0]["tokens"] > 0
    assert "| model | held-out MLM loss |" in capsys.readouterr().out
