"""Every request the client sends matches MiniMax's published OpenAPI request schemas."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml  # type: ignore[import-untyped]
from conftest import KEY, Gateway, new_client
from jsonschema.exceptions import ValidationError as SchemaError  # type: ignore[import-untyped]
from openapi_schema_validator import OAS31Validator, oas31_format_checker

from voiceclone import ClonePrompt
from voiceclone._samples import make_m4a, make_mp3, make_wav
from voiceclone.emulator import Emulator, RecordedRequest

OPENAPI = Path(__file__).parent / "openapi"


@cache
def _operation(spec_file: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(path, method, operation, components) of the one operation in a spec file."""
    spec = yaml.safe_load((OPENAPI / spec_file).read_text(encoding="utf-8"))
    ((path, operations),) = spec["paths"].items()
    ((method, operation),) = operations.items()
    return path, method.upper(), operation, spec.get("components", {})


def _strict(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Refuse properties the spec does not define: the SDK must not invent fields."""
    target = schema
    if "$ref" in schema:
        target = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    target["additionalProperties"] = False
    for prop in target.get("properties", {}).values():
        if "$ref" in prop or prop.get("type") == "object":
            _strict(prop, components)


def assert_matches_spec(spec_file: str, sent: RecordedRequest, headers: dict[str, str]) -> None:
    path, method, operation, components = _operation(spec_file)
    assert (sent.method, sent.path) == (method, path)
    # Bearer auth, as the spec's security scheme says.
    scheme, _, token = headers["Authorization"].partition(" ")
    assert (scheme, token) == ("Bearer", KEY)
    ((content_type, media),) = operation["requestBody"]["content"].items()
    assert sent.headers["Content-Type"].split(";")[0].strip() == content_type
    for param in operation.get("parameters", []):
        if param["in"] == "header" and param.get("required"):
            value = sent.headers[param["name"]].split(";")[0].strip()
            assert value in param["schema"].get("enum", [value])
    components = copy.deepcopy(components)
    schema = copy.deepcopy(media["schema"])
    _strict(schema, components)
    if content_type == "multipart/form-data":
        assert sent.form is not None
        instance: dict[str, Any] = {}
        for name, value in sent.form.items():
            if isinstance(value, dict):  # a file part: binary content with a filename
                assert value["filename"]
                assert value["size"] > 0
                assert schema["properties"][name]["format"] == "binary"
                instance[name] = "<binary>"
            else:
                instance[name] = value
    else:
        instance = sent.json
    validator = OAS31Validator(
        {**schema, "components": components}, format_checker=oas31_format_checker
    )
    validator.validate(instance)


async def test_every_request_matches_the_spec(emu: Emulator) -> None:
    async with Gateway(emu.origin) as gateway, new_client(gateway.origin + "/minimax/v1") as client:
        sample = await client.upload_file(make_wav(12.0))
        await client.upload_file(make_mp3(15.0), filename="take.mp3")
        await client.upload_file(make_m4a(20.0))
        prompt = await client.upload_file(make_wav(4.0), purpose="prompt_audio")
        await client.clone(
            file_id=sample.file_id,
            voice_id="Narrator001",
            clone_prompt=ClonePrompt(prompt.file_id, "This voice sounds natural."),
            text="A gentle breeze sweeps across the soft grass (breath).",
            model="speech-2.8-hd",
            language_boost="Chinese,Yue",
            text_validation="This voice sounds natural.",
            accuracy=0.8,
            need_noise_reduction=True,
            need_volume_normalization=False,
            aigc_watermark=True,
        )
        await client.clone(file_id=sample.file_id, voice_id="Narrator002")
        for voice_type in ("system", "voice_cloning", "voice_generation", "all"):
            await client.list_voices(voice_type)
        await client.delete_voice("Narrator001")

    specs = {
        "files/upload": "files_upload.yaml",
        "voice_clone": "voice_clone.yaml",
        "get_voice": "get_voice.yaml",
        "delete_voice": "delete_voice.yaml",
    }
    assert len(emu.requests) == len(gateway.headers) == 11
    for sent, headers in zip(emu.requests, gateway.headers, strict=True):
        assert_matches_spec(specs[sent.endpoint], sent, headers)
        if sent.form is not None and sent.form["purpose"] == "voice_clone":
            assert_matches_spec("files_upload_voice_clone.yaml", sent, headers)
    assert emu.stats.status_codes[0] == 11  # and the emulator accepted every one


def test_the_check_catches_an_invented_field() -> None:
    sent = RecordedRequest(
        endpoint="voice_clone",
        method="POST",
        path="/v1/voice_clone",
        query={},
        headers={"Content-Type": "application/json"},
        json={"file_id": 1, "voice_id": "Narrator001", "voice_name": "x"},
        form=None,
        trace_id="t",
    )
    with pytest.raises(SchemaError, match="voice_name"):
        assert_matches_spec("voice_clone.yaml", sent, {"Authorization": f"Bearer {KEY}"})
    prompt = {"prompt_audio": 1, "prompt_text": "Hi.", "language": "en"}
    bad_prompt = attrs.evolve(
        sent, json={"file_id": 1, "voice_id": "V1234567", "clone_prompt": prompt}
    )
    with pytest.raises(SchemaError, match="language"):
        assert_matches_spec("voice_clone.yaml", bad_prompt, {"Authorization": f"Bearer {KEY}"})
