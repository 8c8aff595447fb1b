"""Build-time generator: man pages and bash completion from the code itself.

    python3 packaging/gen.py man OUTDIR        xcatha(8), activate-xcatmn(8), deactivate-xcatmn(8)
                                               and ocf_xcat_<agent>(7) for every agent
    python3 packaging/gen.py completion FILE   bash completion for xcatha

xcatha(8) walks the click command tree (lib/xcatha/cli.py) and the agent pages
parse each agent's own `meta-data`, so neither can drift from what runs.  Run
from the source tree with the build's Python; lib/ is put on the path here.
"""
import datetime
import inspect
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

SOURCE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE / "lib"))

import click  # noqa: E402

from xcatha import __version__, cli  # noqa: E402

PROVIDER = "xcat"
CONFIG = "/etc/xcatha/cluster.conf"


def roff(text):
    """Escape text for a roff line: backslashes, and a leading . or ' would be a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def date():
    # Reproducible builds: dpkg-buildpackage (and rpmbuild, if asked) set SOURCE_DATE_EPOCH.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%Y-%m-%d")


def header(name, section, title):
    return ['.TH "%s" "%s" "%s" "xcatha %s" "%s"' % (name.upper(), section, date(), __version__, title)]


def paragraphs(text):
    """Click help text as roff: paragraphs refilled, a paragraph after a lone \\b kept verbatim."""
    lines = []
    for block in inspect.cleandoc(text or "").split("\n\n"):
        if block.startswith("\b\n"):
            lines += [".PP", ".nf"] + [roff(line) for line in block[2:].splitlines()] + [".fi"]
        elif block.strip():
            lines += [".PP", roff(" ".join(block.split()))]
    return lines


def option_lines(command, ctx):
    lines = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if not record:
            continue
        names, help_text = record
        lines += [".TP", "\\fB%s\\fR" % roff(names), roff(help_text or "")]
    return lines


def walk(group, ctx, path):
    """Every leaf command under group, with its full path and click context."""
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        sub = click.Context(command, info_name=name, parent=ctx)
        if isinstance(command, click.Group):
            yield path + [name], command, sub, True
            yield from walk(command, sub, path + [name])
        else:
            yield path + [name], command, sub, False


def xcatha_page():
    ctx = click.Context(cli.main, info_name="xcatha", **cli.main.context_settings)
    lines = header("xcatha", "8", "System Administration")
    lines += [".SH NAME", "xcatha \\- %s" % roff(cli.main.help.rstrip(".").split(" (")[0]),
              ".SH SYNOPSIS", "\\fBxcatha\\fR [\\fB\\-h\\fR] [\\fB\\-\\-version\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
              ".SH DESCRIPTION"]
    lines += paragraphs(cli.main.help)
    lines += paragraphs(cli.__doc__.split("\n", 1)[1])
    lines += [".SH OPTIONS"] + option_lines(cli.main, ctx)
    lines += [".SH COMMANDS"]
    for path, command, sub, is_group in walk(cli.main, ctx, []):
        usage = " ".join(command.collect_usage_pieces(sub))
        lines += [".SS \"xcatha %s\"" % " ".join(path)]
        if not is_group:
            lines += [".PP", "\\fBxcatha %s\\fR %s" % (roff(" ".join(path)), roff(usage))]
        lines += paragraphs(command.help)
        if not is_group:
            lines += option_lines(command, sub)
    lines += [".SH FILES",
              ".TP", "\\fI%s\\fR" % CONFIG, "The pair's configuration (\\fB\\-c\\fR changes it).",
              ".TP", "\\fI%s\\fR" % cli.LOG_FILE, "Every command's log.",
              ".TP", "\\fI/usr/lib/systemd/system/xcatha\\-boot\\-cleanup.service\\fR",
              "Runs \\fBxcatha boot\\-cleanup\\fR at boot, before corosync and pacemaker, and records this "
              "host's versions and clock in the shared data (\\fBxcatha sync facts\\fR).",
              ".TP", "\\fI/usr/lib/systemd/system/xcatha\\-sync.path\\fR",
              "Runs \\fBxcatha sync push\\fR when /etc/hosts or root's ssh keys change ([sync] files).",
              ".SH EXIT STATUS", "0 on success; 1 with a one\\-line reason on failure; 2 on a usage error.",
              ".SH SEE ALSO", ", ".join("\\fB%s\\fR(%s)" % pair for pair in
                                       [("activate-xcatmn", 8), ("deactivate-xcatmn", 8)]
                                       + [("ocf_%s_%s" % (PROVIDER, agent), 7) for agent in agent_names()]
                                       + [("pcs", 8), ("pacemaker", 7)]).replace("-", "\\-")]
    return "\n".join(lines) + "\n"


def alias_page(alias, command_name):
    """activate-xcatmn and deactivate-xcatmn: the seed's names for two xcatha commands."""
    ctx = click.Context(cli.main, info_name="xcatha", **cli.main.context_settings)
    command = cli.main.get_command(ctx, command_name)
    sub = click.Context(command, info_name=alias)
    lines = header(alias, "8", "System Administration")
    lines += [".SH NAME", "%s \\- %s" % (roff(alias), roff(command.help.split("\n")[0].split(":")[0])),
              ".SH SYNOPSIS", "\\fB%s\\fR %s" % (roff(alias), roff(" ".join(command.collect_usage_pieces(sub)))),
              ".SH DESCRIPTION", ".PP", "The same as \\fBxcatha %s\\fR." % command_name]
    lines += paragraphs(command.help)
    lines += [".SH OPTIONS"] + option_lines(command, sub)
    lines += [".SH SEE ALSO", "\\fBxcatha\\fR(8)"]
    return "\n".join(lines) + "\n"


def agent_names():
    return sorted(path.name for path in (SOURCE / "agents").iterdir() if path.is_file())


def metadata(agent):
    env = dict(os.environ, PYTHONPATH=str(SOURCE / "lib"))
    result = subprocess.run([sys.executable, str(SOURCE / "agents" / agent), "meta-data"],
                            capture_output=True, text=True, env=env, check=True)
    # Our own agent's output, not untrusted input; the DOCTYPE's internal subset is cut off.
    return ET.fromstring(result.stdout.split("]>", 1)[1])  # noqa: S314


def agent_page(agent):
    """One page per agent, laid out as resource-agents' ocf_heartbeat_*(7) pages."""
    root = metadata(agent)
    page = "ocf_%s_%s" % (PROVIDER, agent)
    lines = header(page, "7", "OCF resource agents")
    lines += [".SH NAME", "%s \\- %s" % (roff(page), roff(root.findtext("shortdesc")))]
    parameters = root.findall("parameters/parameter")
    actions = root.findall("actions/action")
    names = " | ".join(dict.fromkeys(action.get("name") for action in actions))
    lines += [".SH SYNOPSIS", ".nf"]
    lines += ["[\\fBOCF_RESKEY_%s\\fR=\\fI%s\\fR]" % (roff(p.get("name")), p.find("content").get("type"))
              for p in parameters]
    lines += ["\\fB%s\\fR [%s]" % (roff(agent), roff(names)), ".fi", ".SH DESCRIPTION"]
    lines += paragraphs(root.findtext("longdesc"))
    lines += [".SH SUPPORTED PARAMETERS"]
    for parameter in parameters:
        content = parameter.find("content")
        facts = [content.get("type")]
        if content.get("default") is not None:
            facts.append("default %s" % content.get("default"))
        facts += [flag for flag in ("required", "unique", "reloadable") if parameter.get(flag) == "1"]
        lines += [".TP", "\\fB%s\\fR" % roff(parameter.get("name")),
                  "%s (%s)" % (roff(parameter.findtext("shortdesc")), roff(", ".join(facts))),
                  ".IP", roff(" ".join(parameter.findtext("longdesc").split()))]
    lines += [".SH SUPPORTED ACTIONS", "This resource agent supports the following actions (operations):"]
    for action in actions:
        facts = ["timeout %s" % action.get("timeout")]
        facts += ["%s %s" % (key, action.get(key)) for key in ("interval", "depth", "role", "start-delay")
                  if action.get(key) is not None]
        lines += [".TP", "\\fB%s\\fR" % roff(action.get("name")), roff(", ".join(facts))]
    example = ["pcs resource create example_%s ocf:%s:%s" % (agent, PROVIDER, agent)]
    example += ["%s=VALUE" % p.get("name") for p in parameters if p.get("required") == "1"]
    lines += [".SH EXAMPLE PCS", ".nf", roff(" ".join(example)),
              ".fi", ".SH SEE ALSO", "\\fBxcatha\\fR(8), \\fBpcs\\fR(8), \\fBocf\\-tester\\fR(8)"]
    return "\n".join(lines) + "\n"


def write_man(outdir):
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    pages = {"xcatha.8": xcatha_page(), "activate-xcatmn.8": alias_page("activate-xcatmn", "activate"),
             "deactivate-xcatmn.8": alias_page("deactivate-xcatmn", "deactivate")}
    pages.update(("ocf_%s_%s.7" % (PROVIDER, agent), agent_page(agent)) for agent in agent_names())
    for name, text in pages.items():
        (out / name).write_text(text, encoding="utf-8")


def write_completion(path):
    from click.shell_completion import BashComplete
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(BashComplete(cli.main, {}, "xcatha", "_XCATHA_COMPLETE").source(), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("man", "completion"):
        sys.exit(__doc__)
    (write_man if sys.argv[1] == "man" else write_completion)(sys.argv[2])
