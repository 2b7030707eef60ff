import pytest

from modiste.io import atomic_path, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_whole_file(tmp_path):
    p = atomic_write_text(tmp_path / "a" / "f.txt", "one")
    atomic_write_json(p, {"x": 1})
    assert p.read_text().strip() == '{\n  "x": 1\n}'


def test_error_inside_atomic_path_keeps_old_content_and_no_temp(tmp_path):
    p = atomic_write_text(tmp_path / "f.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]
