"""The daemon's pure parts, in process: body decoding, the Host allow-list, the token file,
the package's exports."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import handoffs.daemon
from handoffs.daemon.decode import check_input, decode_body
from handoffs.daemon.errors import ApiError, ServeError
from handoffs.daemon.guard import allowed_hosts, is_loopback
from handoffs.daemon.server import read_token
from handoffs.daemon.wire import SubmitRequest

_decoder = msgspec.json.Decoder(SubmitRequest)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b"", "empty_body", None),
        (b'{"pipeline": "a"', "invalid_json", None),
        (b'{"pipeline": "\xc3\x28"}', "invalid_utf8", None),
        (b'{"pipeline": 1}', "invalid_field", "$.pipeline"),
        (b'{"pipeline": "a", "extra": 1}', "invalid_field", "$.extra"),
        (b'{"input": {}}', "invalid_field", "$.pipeline"),
        (
            b'{"pipeline": "a", "input": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
            "too_deep",
            None,
        ),
    ],
)
def test_decode_body_errors(body: bytes, code: str, field: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        decode_body(body, _decoder)
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, code, field)


def test_decode_body_accepts_a_valid_request() -> None:
    request = decode_body(b'{"pipeline": "note", "input": {"topic": "x"}}', _decoder)
    assert request == SubmitRequest(pipeline="note", input={"topic": "x"})


def test_check_input_limits_depth_and_integers() -> None:
    nested: dict[str, object] = {}
    inner = nested
    for _ in range(31):
        inner["x"] = inner = {}
    check_input(nested)  # 32 levels: fine
    inner["x"] = {}
    with pytest.raises(ApiError, match=r"^the input nests deeper than 32 levels$"):
        check_input(nested)
    check_input({"big": (1 << 64) - 1, "small": -(1 << 63), "flag": True})
    with pytest.raises(ApiError, match=r"^an integer is out of the 64-bit range$"):
        check_input({"x": [1 << 64]})


def test_allowed_hosts() -> None:
    assert allowed_hosts("127.0.0.1", 8765) == {
        "127.0.0.1:8765",
        "localhost:8765",
        "[::1]:8765",
    }
    assert allowed_hosts("10.1.2.3", 80, ["api.example"]) == {
        "10.1.2.3:80",
        "10.1.2.3",
        "api.example:80",
        "api.example",
    }
    assert "[::1]:9000" in allowed_hosts("::1", 9000)
    assert is_loopback("127.0.0.2") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


def test_read_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  a-long-enough-token-1234 \n")
    path.chmod(0o600)
    assert read_token(path) == "a-long-enough-token-1234"
    path.chmod(0o640)
    with pytest.raises(ServeError, match=r"open to other users \(mode 0640\)"):
        read_token(path)
    path.chmod(0o600)
    path.write_text("short")
    with pytest.raises(ServeError, match=r"at least 16 printable ASCII characters"):
        read_token(path)
    with pytest.raises(ServeError, match=r"^cannot read token file"):
        read_token(tmp_path / "missing")


def test_exports_are_sorted_and_importable() -> None:
    names = handoffs.daemon.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(handoffs.daemon, name) is not None
    with pytest.raises(AttributeError):
        getattr(handoffs.daemon, "nothing_here")  # noqa: B009
