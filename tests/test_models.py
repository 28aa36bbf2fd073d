"""Model names: the embedded MiniLM, local folders, hub ids, and weight digests."""

import pytest

from cohesive.errors import CohesiveError
from cohesive.models import resolve_model, weights_digest


def test_local_looking_names_never_go_to_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for name in ("./model", "runs/missing", str(tmp_path / "nope"), "~/nope"):
        with pytest.raises(CohesiveError, match="no such model folder"):
            resolve_model(name)
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    (tmp_path / "runs" / "model").mkdir()
    assert resolve_model("runs/model") == "runs/model"


def test_weights_digest_is_the_sha256_of_the_weight_bytes(tmp_path):
    import hashlib

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    expected = hashlib.sha256(b"model.safetensors\0weights").hexdigest()
    assert weights_digest(str(tmp_path)) == f"sha256:{expected}"
    (tmp_path / "model.safetensors").write_bytes(b"other")
    assert weights_digest(str(tmp_path)) != f"sha256:{expected}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CohesiveError, match="no safetensors weights"):
        weights_digest(str(tmp_path / "empty"))
