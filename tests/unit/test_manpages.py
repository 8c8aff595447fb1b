"""The man pages the packages install are generated from the code: every command, option and agent parameter."""
import importlib.util
import re
from pathlib import Path

import click

from xcatha import cli

GEN = Path(__file__).resolve().parents[2] / "packaging" / "gen.py"


def load_gen():
    spec = importlib.util.spec_from_file_location("gen", GEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain(roff_text):
    return roff_text.replace("\\-", "-").replace("\\e", "\\")


def test_xcatha_page_has_every_command_and_option():
    text = plain(load_gen().xcatha_page())
    ctx = click.Context(cli.main, info_name="xcatha")

    def leaves(group, path):
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                yield from leaves(command, path + [name])
            else:
                yield path + [name], command

    found = list(leaves(cli.main, []))
    assert len(found) >= 10
    for path, command in found:
        assert '.SS "xcatha %s"' % " ".join(path) in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                assert opt in text, (path, opt)


def test_agent_pages_have_parameters_defaults_and_timeouts(tmp_path):
    gen = load_gen()
    gen.write_man(tmp_path)
    names = {path.name for path in tmp_path.iterdir()}
    assert {"xcatha.8", "activate-xcatmn.8", "deactivate-xcatmn.8", "ocf_xcat_vip.7", "ocf_xcat_db.7"} <= names
    for agent in gen.agent_names():
        root = gen.metadata(agent)
        text = plain((tmp_path / ("ocf_xcat_%s.7" % agent)).read_text())
        for parameter in root.findall("parameters/parameter"):
            assert "\\fB%s\\fR" % parameter.get("name") in text
            default = parameter.find("content").get("default")
            if default is not None:
                assert "default %s" % default in text
        for action in root.findall("actions/action"):
            assert re.search(r"\\fB%s\\fR\n.*timeout %s" % (action.get("name"), action.get("timeout")), text)


def test_roff_escapes_requests_and_backslashes():
    gen = load_gen()
    assert gen.roff(".hidden") == "\\&.hidden"
    assert gen.roff("a\\b-c") == "a\\eb\\-c"
