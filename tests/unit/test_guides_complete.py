"""The guides cannot drift from the code: every command, setting and configuration key is
documented in both languages, the generated reference is up to date, links resolve, and
config.example.toml documents every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.runtime.config import load_config
from bot.tools.reference import (
    BEGIN,
    END,
    command_list,
    config_keys,
    env_var,
    generated_part,
    render_reference,
)
from handlers.settings.commands import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = {
    "fr": {
        "participant": "participant.md",
        "organiser": "organisateur.md",
        "deployment": "deploiement.md",
        "reference": "reference.md",
        "encryption": "chiffrement.md",
    },
    "en": {
        "participant": "participant.md",
        "organiser": "organiser.md",
        "deployment": "deployment.md",
        "reference": "reference.md",
        "encryption": "encryption.md",
    },
}
LANGUAGES = sorted(GUIDES)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def page(language: str, guide: str) -> str:
    return (DOCS / language / GUIDES[language][guide]).read_text(encoding="utf-8")


def all_docs(language: str) -> str:
    return "\n".join(page(language, guide) for guide in GUIDES[language])


def has_command(text: str, name: str) -> bool:
    """`!name` as a whole word: `!proposal` is not found inside `!proposals`."""
    return re.search(re.escape("!" + name) + r"(?![\w-])", text) is not None


def has_word(text: str, word: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_command_name_and_alias_is_documented(language: str):
    text = all_docs(language)
    missing = [
        name for command in command_list() for name in command.all_names
        if not has_command(text, name)
    ]  # fmt: skip
    assert missing == [], f"docs/{language}: commands not documented: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_command_is_explained_in_a_guide_not_only_the_reference(language: str):
    text = page(language, "participant") + page(language, "organiser")
    missing = [
        command.name
        for command in command_list()
        if not any(has_command(text, name) for name in command.all_names)
    ]
    assert missing == [], f"docs/{language}: commands missing from the guides: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_setting_name_and_alias_is_documented(language: str):
    text = all_docs(language)
    missing = [
        name for setting in SETTINGS for name in (setting.name, *setting.aliases)
        if not has_word(text, name)
    ]  # fmt: skip
    assert missing == [], f"docs/{language}: settings not documented: {missing}"
    organiser = page(language, "organiser")
    unexplained = [
        setting.name
        for setting in SETTINGS
        if not any(has_word(organiser, name) for name in (setting.name, *setting.aliases))
    ]
    assert unexplained == [], f"docs/{language}: settings missing from the organiser guide"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_configuration_key_and_variable_is_in_the_deployment_guide(language: str):
    deployment = page(language, "deployment")
    everything = all_docs(language)
    for section, key, _default in config_keys():
        dotted, variable = f"{section}.{key}", env_var(section, key)
        assert dotted in deployment, f"docs/{language}: {dotted} not in the deployment guide"
        assert variable in deployment, f"docs/{language}: {variable} not in the deployment guide"
        assert dotted in everything and variable in everything


@pytest.mark.parametrize("language", LANGUAGES)
def test_reference_page_is_up_to_date(language: str):
    text = page(language, "reference")
    assert BEGIN.format(language=language) in text and END in text
    assert generated_part(text, language) == render_reference(language), (
        f"docs/{language}/reference.md is out of date: run "
        f"`concerto reference --language {language} --update docs/{language}/reference.md`"
    )


def test_reference_lists_every_command_setting_and_key():
    for language in LANGUAGES:
        generated = render_reference(language)
        for command in command_list():
            assert f"`!{command.name}`" in generated
        for setting in SETTINGS:
            assert f"`{setting.name}`" in generated
        for section, key, _default in config_keys():
            assert f"`{env_var(section, key)}`" in generated


def test_reference_follows_a_renamed_command(monkeypatch: pytest.MonkeyPatch):
    """The comparison really catches drift: a renamed command changes the output."""
    from handlers.help import commands as help_feature

    original = help_feature.commands

    def renamed(registry, prefix):
        return [
            command.__class__(**{**command.__dict__, "name": "aide-renommée"})
            for command in original(registry, prefix)
        ]

    monkeypatch.setattr(help_feature, "commands", renamed)
    generated = render_reference("fr")
    assert "`!aide-renommée`" in generated
    assert generated != generated_part(page("fr", "reference"), "fr")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*/*.md"))]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path):
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file_part = target.split("#", 1)[0]
        if not (path.parent / file_part).exists():
            broken.append(target)
    assert broken == [], f"{path.relative_to(ROOT)}: broken links {broken}"


def test_readme_links_every_guide_in_both_languages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(LINK.findall(readme))
    for language, guides in GUIDES.items():
        for filename in guides.values():
            assert f"docs/{language}/{filename}" in linked, (
                f"README lacks docs/{language}/{filename}"
            )


def example_config() -> str:
    return (ROOT / "config.example.toml").read_text(encoding="utf-8")


def test_config_example_documents_every_key():
    text = example_config()
    sections = re.split(r"^\[(\w+)\]\s*$", text, flags=re.MULTILINE)
    blocks = dict(zip(sections[1::2], sections[2::2], strict=True))
    for section, key, _default in config_keys():
        assert section in blocks, f"config.example.toml lacks [{section}]"
        pattern = rf"^#?\s*{re.escape(key)}\s*="
        assert re.search(pattern, blocks[section], flags=re.MULTILINE), (
            f"config.example.toml does not document {section}.{key}"
        )


def test_config_example_is_a_valid_configuration(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(example_config(), encoding="utf-8")
    config = load_config(path, environ={})
    assert config.bot.language in ("fr", "en")


def test_cli_prints_the_reference(capsys: pytest.CaptureFixture[str]):
    from bot.tools.cli import main

    assert main(["reference", "--language", "en"]) == 0
    assert capsys.readouterr().out == render_reference("en")


def test_cli_updates_a_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from bot.tools.cli import main

    target = tmp_path / "reference.md"
    target.write_text("# Reference\n", encoding="utf-8")
    assert main(["reference", "-l", "fr", "--update", str(target)]) == 0
    first = target.read_text(encoding="utf-8")
    assert first.startswith("# Reference\n")
    assert generated_part(first, "fr") == render_reference("fr")
    assert main(["reference", "-l", "fr", "--update", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == first
    assert "already up to date" in capsys.readouterr().err
