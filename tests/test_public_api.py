"""The public API is exactly what is documented: names, docstrings, reference page."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import voiceclone
import voiceclone.emulator
import voiceclone.samples
import voiceclone.testing

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"

PUBLIC = {
    "Client",
    "SyncClient",
    "CloneRequest",
    "ClonePrompt",
    "CloneResult",
    "PreviewInfo",
    "SensitiveType",
    "SpeechModel",
    "Speech",
    "SpeechFields",
    "SpeechStream",
    "AudioFormat",
    "FilePurpose",
    "UploadedFile",
    "Voice",
    "CloneJob",
    "CloneOutcome",
    "RetryPolicy",
    "AccountStatus",
    "GateStats",
    "RetryEvent",
    "ResponseEvent",
    "VoiceCloneError",
    "ConfigurationError",
    "JournalError",
    "InsecureTransportWarning",
    "ValidationError",
    "APIError",
    "RateLimitError",
    "AuthenticationError",
    "InsufficientBalanceError",
    "SensitiveContentError",
    "InvalidParameterError",
    "AudioError",
    "PermissionDeniedError",
    "VoiceIdConflictError",
    "VoiceNotFoundError",
    "QuotaExceededError",
    "ServerError",
    "TransportError",
    "ResponseFormatError",
    "TimeoutError",
    "OutOfTime",
    "RateGateUnavailableError",
    "RedisJournal",
    "__version__",
}
EMULATOR_PUBLIC = {
    "Account",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "Faults",
    "RecordedRequest",
    "StoredFile",
    "StoredVoice",
    "main",
}
TESTING_PUBLIC = {
    "FAST_RETRY",
    "TEST_API_KEY",
    "TEST_REQUESTS_PER_MINUTE",
    "client_for",
    "sample_wav",
}
SAMPLES_PUBLIC = {"sample_m4a", "sample_mp3", "sample_wav"}
MODULES = [
    (voiceclone, PUBLIC),
    (voiceclone.emulator, EMULATOR_PUBLIC),
    (voiceclone.samples, SAMPLES_PUBLIC),
    (voiceclone.testing, TESTING_PUBLIC),
]


@pytest.mark.parametrize(("module", "names"), MODULES, ids=lambda m: getattr(m, "__name__", ""))
def test_all_is_exactly_the_documented_api(module: ModuleType, names: set[str]) -> None:
    assert len(module.__all__) == len(set(module.__all__))
    assert set(module.__all__) == names
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize(("module", "names"), MODULES, ids=lambda m: getattr(m, "__name__", ""))
def test_every_public_name_has_its_own_docstring(module: ModuleType, names: set[str]) -> None:
    assert inspect.getdoc(module)
    for name in sorted(names - {"__version__"}):
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            # A class's own __doc__, not one inherited from its base.
            assert obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__, name
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", voiceclone.__version__)


@pytest.mark.parametrize("cls", [voiceclone.Client, voiceclone.SyncClient])
def test_public_methods_of_the_clients_have_docstrings(cls: type) -> None:
    for name, member in inspect.getmembers(cls):
        if not name.startswith("_") and (callable(member) or isinstance(member, property)):
            assert member.__doc__, f"{cls.__name__}.{name}"


def test_the_reference_page_renders_every_public_name() -> None:
    page = REFERENCE.read_text(encoding="utf-8")
    rendered = set(re.findall(r"^::: voiceclone\.(\w+)\s*$", page, re.MULTILINE))
    assert rendered == PUBLIC - {"__version__"} | {"emulator", "samples", "testing"}
    assert "`voiceclone.__version__`" in page


def test_no_private_module_leaks_a_name_into_the_package() -> None:
    exported = {n for n in dir(voiceclone) if not n.startswith("_")}
    modules = {n for n in exported if inspect.ismodule(getattr(voiceclone, n))}
    assert exported - modules == PUBLIC - {"__version__"}


def test_testing_constants_work_with_the_emulator_defaults() -> None:
    assert voiceclone.testing.FAST_RETRY.wait_max < 0.1
    assert voiceclone.testing.TEST_REQUESTS_PER_MINUTE >= 60_000
    assert voiceclone.testing.sample_wav(10.0)[:4] == b"RIFF"
