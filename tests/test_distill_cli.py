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
