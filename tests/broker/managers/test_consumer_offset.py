"""ConsumerOffsetManager: commits, queries and consumerOffset.json with bare integer keys."""

from __future__ import annotations

from pathlib import Path

from broker.managers import ConsumerOffsetManager


def test_commit_and_query(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    assert m.query_offset("CG", "T", 0) == -1
    assert m.query_offsets("CG", "T") == {}
    m.commit_offset("10.0.0.1", "CG", "T", 0, 15)
    m.commit_offset("10.0.0.1", "CG", "T", 1, 7)
    assert m.query_offset("CG", "T", 0) == 15
    assert m.query_offset("CG", "T", 2) == -1
    assert m.query_offset("Other", "T", 0) == -1
    offsets = m.query_offsets("CG", "T")
    assert offsets == {0: 15, 1: 7}
    offsets[0] = 99  # a copy
    assert m.query_offset("CG", "T", 0) == 15


def test_a_lower_offset_is_accepted(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    m.commit_offset("h", "CG", "T", 0, 15)
    m.commit_offset("h", "CG", "T", 0, 3)  # reset offset: logged, stored
    assert m.query_offset("CG", "T", 0) == 3


def test_which_groups_and_topics(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    m.commit_offset("h", "CG1", "T", 0, 1)
    m.commit_offset("h", "CG2", "T", 0, 1)
    m.commit_offset("h", "CG1", "%RETRY%CG1", 0, 1)
    m.commit_offset("h", "CG3", "U", 0, 1)
    assert m.which_groups_consume_topic("T") == {"CG1", "CG2"}
    assert m.which_groups_consume_topic("Nope") == set()
    assert m.which_topics_by_consumer("CG1") == {"T", "%RETRY%CG1"}
    assert sorted((t, g) for t, g, _ in m.items()) == [
        ("%RETRY%CG1", "CG1"),
        ("T", "CG1"),
        ("T", "CG2"),
        ("U", "CG3"),
    ]


def test_remove_and_clone(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    m.commit_offset("h", "CG1", "T", 0, 5)
    m.commit_offset("h", "CG1", "U", 0, 6)
    m.commit_offset("h", "CG2", "T", 0, 7)
    m.clone_offset("CG1", "CG3", "T")
    assert m.query_offsets("CG3", "T") == {0: 5}
    m.commit_offset("h", "CG3", "T", 0, 50)
    assert m.query_offset("CG1", "T", 0) == 5  # clone is a copy
    m.clone_offset("Missing", "CG4", "T")
    assert m.query_offsets("CG4", "T") == {}
    m.remove_offset("CG1")
    assert m.which_topics_by_consumer("CG1") == set()
    assert m.query_offset("CG2", "T", 0) == 7
    m.remove_topic("T")
    assert m.which_groups_consume_topic("T") == set()
    assert [(t, g) for t, g, _ in m.items()] == []
    m.commit_offset("h", "CG5", "V", 0, 1)
    assert m.remove_topic_group("V", "CG5")
    assert not m.remove_topic_group("V", "CG5")


def test_file_shape(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    m.commit_offset("h", "G", "Topic", 0, 15)
    m.commit_offset("h", "G", "Topic", 1, 7)
    m.commit_offset("h", "G2", "%RETRY%G2", 0, 0)
    assert m.persist()
    assert (tmp_path / "consumerOffset.json").read_bytes() == (
        b'{"offsetTable":{"Topic@G":{0:15,1:7},"%RETRY%G2@G2":{0:0}}}'
    )


def test_round_trip_and_dirty_flag(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    assert not m.persist()  # nothing changed: no file
    assert not (tmp_path / "consumerOffset.json").exists()
    m.commit_offset("h", "G", "T", 3, 2**40)
    assert m.dirty
    assert m.persist()
    assert not m.persist()
    assert m.dirty is False
    assert m.persist(force=True)
    again = ConsumerOffsetManager(tmp_path)
    assert again.load()
    assert not again.dirty
    assert again.query_offset("G", "T", 3) == 2**40
    assert again.encode() == m.encode()


def test_load_java_and_quoted_forms(tmp_path: Path) -> None:
    # A Java broker writes pretty fastjson with bare keys; a strict-JSON tool quotes them.
    (tmp_path / "consumerOffset.json").write_text(
        '{\n\t"offsetTable":{\n\t\t"T@G":{0:15,1:7\n\t\t},\n\t\t"U@G":{"2":9},\n'
        '\t\t"bad-key":{0:1}\n\t}\n}'
    )
    m = ConsumerOffsetManager(tmp_path)
    assert m.load()
    assert m.query_offsets("G", "T") == {0: 15, 1: 7}
    assert m.query_offsets("G", "U") == {2: 9}
    assert m.which_topics_by_consumer("G") == {"T", "U"}
    assert m.persist(force=True)
    assert b'"bad-key":{0:1}' in (tmp_path / "consumerOffset.json").read_bytes()  # kept as is


def test_corrupt_file_uses_backup(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    m.commit_offset("h", "G", "T", 0, 1)
    m.persist()
    m.commit_offset("h", "G", "T", 0, 2)
    m.persist()
    assert (tmp_path / "consumerOffset.json.bak").read_bytes() == (b'{"offsetTable":{"T@G":{0:1}}}')
    (tmp_path / "consumerOffset.json").write_bytes(b"\x00\x00\x00")
    again = ConsumerOffsetManager(tmp_path)
    assert again.load()
    assert again.query_offset("G", "T", 0) == 1


def test_empty_file_uses_backup(tmp_path: Path) -> None:
    (tmp_path / "consumerOffset.json").write_bytes(b"")
    (tmp_path / "consumerOffset.json.bak").write_bytes(b'{"offsetTable":{"T@G":{0:4}}}')
    m = ConsumerOffsetManager(tmp_path)
    assert m.load()
    assert m.query_offset("G", "T", 0) == 4


def test_decode_replaces_the_table(tmp_path: Path) -> None:
    m = ConsumerOffsetManager(tmp_path)
    m.commit_offset("h", "G", "Old", 0, 1)
    m.decode(b'{"offsetTable":{"T@G":{0:15}}}')
    assert m.which_topics_by_consumer("G") == {"T"}
    assert m.dirty
