import pytest

from qa.errors import ConfigError
from qa.settings import load_settings

pytestmark = pytest.mark.unit


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TOP_K", "8")
    monkeypatch.setenv("QA_CHROMA_URL", "")
    s = load_settings()
    assert s.top_k == 8 and s.chroma_url is None


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TOP_K", "lots")
    with pytest.raises(ConfigError, match="QA_TOP_K"):
        load_settings()


def test_unknown_names_are_not_silently_ignored(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    # a keyword that is no setting
    with pytest.raises(ConfigError, match="QA_ARTICLES_DIR: no such setting"):
        load_settings(articles_dir="my/articles")
    monkeypatch.setenv("QA_TOPK", "8")  # a typo in the environment: named, with the right one
    with caplog.at_level("WARNING", logger="qa.settings"):
        assert load_settings().top_k == 5
    assert "QA_TOPK is not a setting" in caplog.text and "QA_TOP_K" in caplog.text


def test_mode_follows_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().answer_mode == "extractive"
    monkeypatch.setenv("QA_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert load_settings().answer_mode == "llm"
    assert load_settings(mode="extractive").answer_mode == "extractive"


def test_llm_mode_without_endpoint_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="QA_LLM_BASE_URL"):
        _ = load_settings(mode="llm").answer_mode


def test_gradio_server_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    s = load_settings()
    assert (s.host, s.port) == ("0.0.0.0", 7999)
    # the QA_ ones win when both are set
    monkeypatch.setenv("QA_PORT", "8100")
    monkeypatch.setenv("QA_HOST", "127.0.0.1")
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 8100)
    monkeypatch.delenv("QA_PORT")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="GRADIO_SERVER_PORT"):
        load_settings()
