"""read_verified: one read, size cap, sha256 pin, missing files and symlinks (CASES D56, D57)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from veneer.adapters._artifact import (decompress_capped, normalize_pin, read_verified, sha256_hex,
                                      sniff_format)
from veneer.wrapper.errors import ArtifactError

PAYLOAD = b"legacy model bytes \x00\x01\x02" * 10


@pytest.fixture()
def artifact(tmp_path: Path) -> Path:
    p = tmp_path / "model.pkl"
    p.write_bytes(PAYLOAD)
    return p


def test_returns_exact_bytes_with_matching_pin(artifact: Path) -> None:
    assert read_verified(artifact, sha256_hex(PAYLOAD)) == PAYLOAD


def test_pin_accepts_prefix_and_upper_case(artifact: Path) -> None:
    pin = "sha256:" + sha256_hex(PAYLOAD).upper()
    assert read_verified(artifact, pin) == PAYLOAD


def test_no_pin_skips_check(artifact: Path) -> None:
    assert read_verified(artifact, None) == PAYLOAD


def test_one_flipped_byte_is_hash_mismatch(artifact: Path) -> None:
    pin = sha256_hex(PAYLOAD)
    flipped = bytearray(PAYLOAD)
    flipped[5] ^= 0x01
    artifact.write_bytes(bytes(flipped))
    with pytest.raises(ArtifactError) as ei:
        read_verified(artifact, pin, what="pickle")
    err = ei.value
    assert err.code == "hash_mismatch"
    assert pin in str(err) and sha256_hex(bytes(flipped)) in str(err)
    assert "update sha256" in str(err)
    assert err.details["expected"] == pin


@pytest.mark.parametrize("pin", ["abc", "z" * 64, "sha256:" + "0" * 63])
def test_malformed_pin(artifact: Path, pin: str) -> None:
    with pytest.raises(ArtifactError) as ei:
        read_verified(artifact, pin)
    assert ei.value.code == "invalid_pin"
    assert repr(pin) in str(ei.value)


def test_normalize_pin_round_trip() -> None:
    assert normalize_pin("SHA256:" + "A" * 64) == "a" * 64


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as ei:
        read_verified(tmp_path / "nope.pkl", None, what="pickle")
    assert ei.value.code == "not_found"
    assert "nope.pkl" in str(ei.value)


def test_dangling_symlink_is_not_found(tmp_path: Path) -> None:
    link = tmp_path / "link.pkl"
    link.symlink_to(tmp_path / "gone.pkl")
    with pytest.raises(ArtifactError) as ei:
        read_verified(link, None)
    assert ei.value.code == "not_found"
    assert "symlink" in str(ei.value)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as ei:
        read_verified(tmp_path, None)
    assert ei.value.code == "not_a_file"


def test_size_cap(artifact: Path) -> None:
    assert read_verified(artifact, None, max_bytes=len(PAYLOAD)) == PAYLOAD
    with pytest.raises(ArtifactError) as ei:
        read_verified(artifact, None, max_bytes=len(PAYLOAD) - 1)
    assert ei.value.code == "too_large"
    assert str(len(PAYLOAD)) in str(ei.value)


def test_symlink_inside_base_is_followed(tmp_path: Path, artifact: Path) -> None:
    link = tmp_path / "current.pkl"
    link.symlink_to(artifact)
    assert read_verified(link, sha256_hex(PAYLOAD), base=tmp_path) == PAYLOAD


def test_symlink_escaping_base_is_refused(tmp_path: Path, artifact: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    link = models / "model.pkl"
    link.symlink_to(artifact)
    with pytest.raises(ArtifactError) as ei:
        read_verified(link, None, base=models)
    assert ei.value.code == "path_escape"
    assert str(artifact) in str(ei.value)


def test_unreadable_file(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        # root reads any file whatever its mode, so nothing real can refuse here: fake the
        # kernel's answer at the one os.open call read_verified makes
        def denied(*_a, **_k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("veneer.adapters._artifact.os.open", denied)
    else:
        artifact.chmod(0)
    with pytest.raises(ArtifactError) as ei:
        read_verified(artifact, None)
    assert ei.value.code == "unreadable"
    assert "Permission denied" in str(ei.value) and "permissions" in str(ei.value)


def test_swap_after_read_does_not_change_returned_bytes(artifact: Path) -> None:
    """D57 at this layer: the bytes returned are the hashed ones, whatever the path holds later."""
    data = read_verified(artifact, sha256_hex(PAYLOAD))
    artifact.write_bytes(b"swapped")
    assert data == PAYLOAD and sha256_hex(data) == sha256_hex(PAYLOAD)


@pytest.mark.parametrize("head,expected", [
    (b"\x80\x02N.", "pickle"), (b"\x80\x05\x95", "pickle"), (b"(lp0\n.", "pickle"), (b"cos\nsystem\n", "pickle"),
    (b"x\x9c\x01", "zlib"), (b"\x1f\x8b\x08", "gzip"), (b"BZh91AY", "bz2"), (b"\xfd7zXZ\x00\x00", "xz"),
    (b"\x5d\x00\x00\x80\x00", "lzma"), (b"\x04\x22\x4d\x18\x64", "lz4"),
])
def test_sniff_known_formats(head: bytes, expected: str) -> None:
    assert sniff_format(head) == expected


@pytest.mark.parametrize("head,named", [
    (b"PK\x03\x04rest", "ZIP"), (b"\x93NUMPY\x01\x00", "npy"), (b"\x89HDF\r\n\x1a\n", "HDF5"),
    (b"ZF0x", "joblib < 0.10"), (b"\x7fELF\x02", "executable"), (b"\x08\x07\x12\x07skl2onnx", "08 07"),
    (b"\x80\x09N.", "protocol 9"), (b"", "empty"),
])
def test_sniff_refuses_and_names_foreign_formats(head: bytes, named: str) -> None:
    with pytest.raises(ArtifactError) as ei:
        sniff_format(head, what="model.pkl")
    assert ei.value.code == "unsupported_format"
    assert named in str(ei.value) and "model.pkl" in str(ei.value)


def test_decompress_capped_round_trip_and_cap() -> None:
    import zlib

    data = b"\x80\x04" + b"N" * 5000 + b"."
    packed = zlib.compress(data)
    assert decompress_capped(packed, "zlib") == data
    with pytest.raises(ArtifactError) as ei:
        decompress_capped(packed, "zlib", max_bytes=1000)
    assert ei.value.code == "too_large"
    with pytest.raises(ArtifactError) as ei:
        decompress_capped(packed[:-10], "zlib")
    assert ei.value.code == "corrupt"
    with pytest.raises(ArtifactError) as ei:
        decompress_capped(b"x\x9cgarbage", "zlib")
    assert ei.value.code == "corrupt"
