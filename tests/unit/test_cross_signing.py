"""Cross-signing: canonical JSON, signatures the spec's way, and the upload conversation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import vodozemac

from bot.matrix.cross_signing import (
    DEVICE_SIGNING_UPLOAD,
    QUERY,
    SIGNATURES_UPLOAD,
    CrossSigningKeys,
    SigningKey,
    canonical_json,
    decode_b64,
    ensure_cross_signed,
    verify_json,
)
from bot.matrix.key_files import crypto_files

USER = "@concerto:example.org"
DEVICE = "BOTDEVICE"
SPEC_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, "{}"),
        ({"one": 1, "two": "Two"}, '{"one":1,"two":"Two"}'),
        ({"b": "2", "a": "1"}, '{"a":"1","b":"2"}'),
        (
            {
                "auth": {
                    "success": True,
                    "mxid": "@john.doe:example.com",
                    "profile": {
                        "display_name": "John Doe",
                        "three_pids": [
                            {"medium": "email", "address": "john.doe@example.org"},
                            {"medium": "msisdn", "address": "123456789"},
                        ],
                    },
                }
            },
            '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
            '"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
            '{"address":"123456789","medium":"msisdn"}]},"success":true}}',
        ),
        ({"a": "日本語"}, '{"a":"日本語"}'),
        ({"本": 2, "日": 1}, '{"日":1,"本":2}'),
        ({"a": "\u65e5"}, '{"a":"日"}'),
        ({"a": None}, '{"a":null}'),
        ({"a": "\u0000"}, '{"a":"\\u0000"}'),
    ],
)
def test_canonical_json_matches_the_spec_examples(value: Any, expected: str) -> None:
    assert canonical_json(value) == expected.encode("utf-8")


def test_signatures_match_the_spec_test_vectors() -> None:
    key = SigningKey(decode_b64(SPEC_SEED))
    assert key.sign(canonical_json({})) == (
        "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
    )
    signed = key.sign_json({"one": 1, "two": "Two"}, "domain")
    assert signed["signatures"]["domain"][key.key_id] == (
        "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
    )


def vodozemac_verifies(obj: dict[str, Any], user_id: str, public: str, key_id: str) -> bool:
    """An independent check: vodozemac's Ed25519 over our canonical form."""
    body = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    signature = vodozemac.Ed25519Signature.from_base64(obj["signatures"][user_id][key_id])
    try:
        vodozemac.Ed25519PublicKey.from_base64(public).verify_signature(
            canonical_json(body), signature
        )
    except vodozemac.SignatureException:
        return False
    return True


def test_signature_ignores_unsigned_and_keeps_other_signatures() -> None:
    key = SigningKey.generate()
    device = {
        "user_id": USER,
        "device_id": DEVICE,
        "keys": {f"ed25519:{DEVICE}": "abc"},
        "signatures": {USER: {f"ed25519:{DEVICE}": "device-self-signature"}},
        "unsigned": {"device_display_name": "concerto"},
    }
    signed = key.sign_json(device, USER)
    assert signed["signatures"][USER][f"ed25519:{DEVICE}"] == "device-self-signature"
    assert verify_json(signed, USER, key.key_id, key.public)
    assert vodozemac_verifies(signed, USER, key.public, key.key_id)
    signed["unsigned"] = {"device_display_name": "renamed"}
    assert verify_json(signed, USER, key.key_id, key.public)
    signed["keys"] = {f"ed25519:{DEVICE}": "tampered"}
    assert not verify_json(signed, USER, key.key_id, key.public)
    assert not vodozemac_verifies(signed, USER, key.public, key.key_id)
    assert not verify_json(signed, USER, "ed25519:other", key.public)


def test_uploaded_keys_are_signed_by_the_master_key() -> None:
    keys = CrossSigningKeys.generate()
    body = keys.public_keys(USER)
    master = body["master_key"]
    assert master == {
        "user_id": USER,
        "usage": ["master"],
        "keys": {keys.master.key_id: keys.master.public},
    }
    for name, usage in (("self_signing_key", "self_signing"), ("user_signing_key", "user_signing")):
        assert body[name]["usage"] == [usage]
        assert vodozemac_verifies(body[name], USER, keys.master.public, keys.master.key_id)


def test_keys_survive_a_reload_in_an_owner_only_file(tmp_path: Path) -> None:
    keys = CrossSigningKeys.generate()
    path = tmp_path / "cross_signing.json"
    keys.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = CrossSigningKeys.load(path)
    assert loaded is not None
    assert loaded.master.public == keys.master.public
    assert loaded.self_signing.public == keys.self_signing.public
    assert loaded.user_signing.public == keys.user_signing.public


def test_pickle_key_is_created_once_owner_only(tmp_path: Path) -> None:
    first = crypto_files(tmp_path)
    again = crypto_files(tmp_path)
    assert first.pickle_key == again.pickle_key and len(first.pickle_key) >= 40
    assert (first.store_path / "pickle_key").stat().st_mode & 0o777 == 0o600
    assert first.store_path.stat().st_mode & 0o777 == 0o700


class FakeHomeserver:
    """Answers the three endpoints like Synapse, UIA included."""

    def __init__(self, *, requires_auth: bool = True, password: str = "secret") -> None:
        self.requires_auth = requires_auth
        self.password = password
        self.device_key = SigningKey.generate()
        device = {
            "user_id": USER,
            "device_id": DEVICE,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"ed25519:{DEVICE}": self.device_key.public, f"curve25519:{DEVICE}": "c"},
        }
        signature = self.device_key.sign(canonical_json(device))
        device["signatures"] = {USER: {f"ed25519:{DEVICE}": signature}}
        self.device = device
        self.cross_signing: dict[str, Any] = {}
        self.calls: list[str] = []

    def sign_with_device(self, obj: dict[str, Any]) -> str:
        return self.device_key.sign(canonical_json(obj))

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        self.calls.append(path)
        body = json.loads(json.dumps(body))  # what goes over the wire
        if path == QUERY:
            answer: dict[str, Any] = {
                "device_keys": {USER: {DEVICE: {**self.device, "unsigned": {"x": 1}}}}
            }
            if self.cross_signing:
                answer["master_keys"] = {USER: self.cross_signing["master_key"]}
                answer["self_signing_keys"] = {USER: self.cross_signing["self_signing_key"]}
            return 200, answer
        if path == DEVICE_SIGNING_UPLOAD:
            auth = body.pop("auth", None)
            if self.requires_auth and (auth is None or auth.get("password") != self.password):
                return 401, {"session": "S1", "flows": [{"stages": ["m.login.password"]}]}
            assert auth is None or auth == {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": USER},
                "password": self.password,
                "session": "S1",
            }
            self.cross_signing = body
            return 200, {}
        if path == SIGNATURES_UPLOAD:
            signed_device = body[USER][DEVICE]
            (ssk_public,) = self.cross_signing["self_signing_key"]["keys"].values()
            assert verify_json(signed_device, USER, f"ed25519:{ssk_public}", ssk_public)
            self.device = {k: v for k, v in signed_device.items()}
            (master_public,) = self.cross_signing["master_key"]["keys"].values()
            master = body[USER][master_public]
            assert verify_json(master, USER, f"ed25519:{DEVICE}", self.device_key.public)
            return 200, {"failures": {}}
        raise AssertionError(path)


async def cross_sign(server: FakeHomeserver, tmp_path: Path, password: str = "secret") -> bool:
    return await ensure_cross_signed(
        request=server.request,
        sign_with_device=server.sign_with_device,
        user_id=USER,
        device_id=DEVICE,
        data_dir=tmp_path,
        password=password,
    )


async def test_first_start_publishes_keys_with_password_then_signs_device(tmp_path: Path):
    server = FakeHomeserver()
    assert await cross_sign(server, tmp_path)
    assert server.calls == [QUERY, DEVICE_SIGNING_UPLOAD, DEVICE_SIGNING_UPLOAD, SIGNATURES_UPLOAD]
    keys = CrossSigningKeys.load(tmp_path / "crypto" / "cross_signing.json")
    assert keys is not None
    assert vodozemac_verifies(
        server.device, USER, keys.self_signing.public, keys.self_signing.key_id
    )

    server.calls.clear()
    assert await cross_sign(server, tmp_path, password="")
    assert server.calls == [QUERY], "a later start changes nothing"


async def test_without_password_it_warns_and_carries_on(tmp_path: Path, caplog):
    server = FakeHomeserver()
    assert not await cross_sign(server, tmp_path, password="")
    assert server.calls == [QUERY, DEVICE_SIGNING_UPLOAD]
    assert "CONCERTO_MATRIX_PASSWORD" in caplog.text
    assert "secret" not in caplog.text


async def test_server_that_needs_no_auth_for_a_first_upload(tmp_path: Path):
    server = FakeHomeserver(requires_auth=False)
    assert await cross_sign(server, tmp_path, password="")
    assert server.calls == [QUERY, DEVICE_SIGNING_UPLOAD, SIGNATURES_UPLOAD]
