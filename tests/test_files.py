"""Local files the SDK writes: previews land whole, private, and never through a planted link.

The preview comes from a small host on loopback built here (a stand-in for the CDN),
so each test can make the download find exactly the file system it needs.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from conftest import names

from voiceclone import Client, ValidationError
from voiceclone._files import check_target, create_private, write_file

AUDIO = b"RIFF" + bytes(range(256)) * 64


@contextlib.asynccontextmanager
async def preview_host(
    before: Callable[[], None] = lambda: None,
) -> AsyncIterator[tuple[str, list[str]]]:
    """Serves ``AUDIO`` at any path after running ``before``; yields the origin and the
    paths served."""
    served: list[str] = []

    async def preview(request: web.Request) -> web.Response:
        served.append(request.path)
        before()  # what changes on disk while the answer is on its way
        return web.Response(body=AUDIO, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/{name}", preview)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", served
    finally:
        await runner.cleanup()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def test_a_missing_folder_is_refused_before_the_download(
    client: Client, tmp_path: Path
) -> None:
    async with preview_host() as (origin, served):
        with pytest.raises(ValidationError) as caught:
            await client.download_demo(f"{origin}/p.wav", tmp_path / "absent" / "p.wav")
    assert caught.value.field == "path"
    assert "does not exist" in str(caught.value)
    assert served == []
    assert names(tmp_path) == []


async def test_a_folder_as_the_target_is_refused_before_the_download(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    async with preview_host() as (origin, served):
        for target in (tmp_path / "out", str(tmp_path) + os.sep):
            with pytest.raises(ValidationError) as caught:
                await client.download_demo(f"{origin}/p.wav", target)
            assert caught.value.field == "path"
    assert served == []
    assert names(tmp_path) == ["out"]
    assert names(tmp_path / "out") == []


async def test_a_write_that_fails_after_the_download_is_typed_and_leaves_nothing(
    client: Client, tmp_path: Path
) -> None:
    target = tmp_path / "p.wav"

    def folder_appears() -> None:  # the rename onto the target can only fail now
        target.mkdir()
        (target / "kept").write_bytes(b"x")

    async with preview_host(folder_appears) as (origin, _):
        with pytest.raises(ValidationError) as caught:
            await client.download_demo(f"{origin}/p.wav", target)
    assert caught.value.field == "path"
    assert caught.value.__cause__ is None
    assert names(tmp_path) == ["p.wav"]  # no temporary file
    assert names(target) == ["kept"]


async def test_a_folder_removed_during_the_download_is_a_validation_error(
    client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    async with preview_host(folder.rmdir) as (origin, _):
        with pytest.raises(ValidationError, match="cannot write") as caught:
            await client.download_demo(f"{origin}/p.wav", folder / "p.wav")
    assert caught.value.field == "path"
    assert names(tmp_path) == []


async def test_a_link_planted_at_the_old_temporary_name_is_not_followed(
    client: Client, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    target = tmp_path / "p.wav"
    (tmp_path / "p.wav.part").symlink_to(victim)
    async with preview_host() as (origin, _):
        assert await client.download_demo(f"{origin}/p.wav", target) == target
    assert victim.read_bytes() == b"precious"
    assert target.read_bytes() == AUDIO
    assert mode(target) == 0o600
    assert names(tmp_path) == ["p.wav", "p.wav.part", "victim.txt"]


async def test_a_link_at_the_target_is_replaced_not_written_through(
    client: Client, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    target = tmp_path / "p.wav"
    target.symlink_to(victim)
    async with preview_host() as (origin, _):
        await client.download_demo(f"{origin}/p.wav", target)
    assert victim.read_bytes() == b"precious"
    assert not target.is_symlink()
    assert target.read_bytes() == AUDIO


def test_create_private_refuses_a_planted_link_and_an_existing_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("link", "dangling", "victim.txt"):
        with pytest.raises(FileExistsError):
            create_private(tmp_path / name)
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "nowhere").exists()
    fd = create_private(tmp_path / "new")
    os.close(fd)
    assert mode(tmp_path / "new") == 0o600


def test_write_file_replaces_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    assert write_file(target, b"new" * 1000) == target
    assert target.read_bytes() == b"new" * 1000
    assert mode(target) == 0o600
    assert names(tmp_path) == ["f.bin"]


@pytest.mark.parametrize("bad", [42, b"bytes", None, "", "a\0b"])
def test_check_target_refuses_what_is_not_a_file_path(bad: object, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        check_target(bad, field="out")
    assert caught.value.field == "out"
