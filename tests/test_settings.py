"""The settings object (resnetbook.settings): validated once, and the execution cache's key."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnetbook import device, fallback, precision, progress, remote
from resnetbook.settings import Settings, SettingsError

from test_book_config import _load_cache_key

# Every setting that changes what an executed chapter prints, with a value that changes it.
EXECUTION = {"RESNETBOOK_WEIGHTS": "standin", "RESNETBOOK_MIRROR": "http://127.0.0.1:9/files",
             "RESNETBOOK_BF16": "0", "RESNETBOOK_DEVICE": "cpu", "TQDM_DISABLE": "1"}


def test_unset_variables_give_the_defaults():
    assert Settings.from_environ({}) == Settings()
    assert Settings() == Settings(weights="auto", mirror=None, data_root=None, device=None, bf16=None,
                                  progress_off=False)


def test_values_are_normalized():
    s = Settings.from_environ({"RESNETBOOK_WEIGHTS": " Standin ", "RESNETBOOK_MIRROR": "file:///srv/m//",
                               "RESNETBOOK_DATA": "~/d", "RESNETBOOK_DEVICE": "CUDA:1", "RESNETBOOK_BF16": "1",
                               "TQDM_DISABLE": "True"})
    assert s == Settings(weights="standin", mirror="file:///srv/m/", data_root=Path("~/d").expanduser(),
                         device="cuda:1", bf16=True, progress_off=True)
    assert Settings.from_environ({"RESNETBOOK_BF16": "0", "TQDM_DISABLE": "false"}).bf16 is False


@pytest.mark.parametrize("var, value, allowed", [
    ("RESNETBOOK_WEIGHTS", "sometimes", "auto, pretrained, standin"),
    ("RESNETBOOK_MIRROR", "ftp://host/", "http(s):// or file:// URL"),
    ("RESNETBOOK_DEVICE", "gpu", "cpu, cuda, cuda:N"),
    ("RESNETBOOK_BF16", "yes", "0 (never bfloat16) or 1"),
])
def test_a_bad_value_names_the_variable_and_what_it_takes(var, value, allowed):
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({var: value})
    message = str(info.value)
    assert message.startswith(f"{var} must be") and allowed in message and repr(value) in message


def test_every_module_asks_the_settings(monkeypatch):
    monkeypatch.setenv("RESNETBOOK_WEIGHTS", "standin")
    monkeypatch.setenv("RESNETBOOK_MIRROR", "http://host:8000/files")
    monkeypatch.setenv("RESNETBOOK_DEVICE", "cpu")
    monkeypatch.setenv("RESNETBOOK_BF16", "0")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert fallback.resolve_mode() == "standin" and remote.mirror_base() == "http://host:8000/files/"
    assert device.get_device().type == "cpu" and progress.disabled_by_environment()
    assert precision.amp_dtype(device.get_device()) is None
    monkeypatch.setenv("RESNETBOOK_BF16", "1")  # a later change is obeyed
    assert precision.amp_dtype(device.get_device()) is not None
    monkeypatch.setenv("RESNETBOOK_BF16", "maybe")
    with pytest.raises(SettingsError, match="RESNETBOOK_BF16 must be"):
        precision.amp_dtype(device.get_device())


@pytest.mark.parametrize("var", EXECUTION)
def test_each_execution_setting_changes_the_key(var):
    assert Settings.from_environ({var: EXECUTION[var]}).execution_key() != Settings().execution_key()


def test_the_data_folder_does_not_change_the_key():
    # The files are checked by md5 wherever they are cached, so the results are the same.
    assert Settings.from_environ({"RESNETBOOK_DATA": "/elsewhere"}).execution_key() == Settings().execution_key()


@pytest.mark.parametrize("var", EXECUTION)
def test_changing_an_execution_setting_clears_the_execution_cache(var, tmp_path, monkeypatch):
    cache_key = _load_cache_key()
    for name in [*EXECUTION, "RESNETBOOK_DATA"]:
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "cache"
    cache_key.main(cache)
    (cache / "executed.db").write_text("outputs of the default settings")
    monkeypatch.setenv("RESNETBOOK_DATA", str(tmp_path / "data"))
    cache_key.main(cache)  # not an execution setting: the cache stays
    assert (cache / "executed.db").exists()
    monkeypatch.setenv(var, EXECUTION[var])
    cache_key.main(cache)
    assert not (cache / "executed.db").exists()
