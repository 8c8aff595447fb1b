"""The OCF 1.1 resource-agent shim: the OCF rules, written once.

An agent declares its name, descriptions, parameters and actions once; from
that declaration this module produces the meta-data XML, reads and validates
the parameters, picks the check depth, recognises probes, computes the
deadline, logs like Pacemaker's own agents and turns every outcome into an OCF
exit code with at most one ``ocf-exit-reason:`` line.

Rules enforced here rather than in each agent:
- stop never fails because of bad configuration: a resource cannot be running
  with parameters it could not have started with (a failed stop means fencing);
- monitor never returns 6 (it bans the resource cluster-wide); a probe answers
  7 where configuration, software or shared storage is missing on this node;
- validate-all at depth 0 checks syntax only and prints nothing on success
  (pcs runs it on any node, possibly the passive one);
- an unexpected exception becomes OCF_ERR_GENERIC with a one-line reason; the
  traceback goes to the debug log.

click parses command lines (``agents/vip --ip 192.0.2.10 monitor``).  When the
only arguments are the action — the way Pacemaker calls an agent — the same
``OCF_RESKEY_<name>`` variables that click would read are read directly and
click is not imported: it costs more start-up time than a whole stock monitor.
Both ways feed the same conversion and validation below.
"""
import enum
import os
import sys
import time

from xcatha import __version__
from xcatha.log import DEBUG, INFO, env_flag, log

_STARTED = time.monotonic()  # about when this process started: ocf is imported first
OCF_VERSION = "1.1"
EXIT_REASON_PREFIX = "ocf-exit-reason:"
MAX_VALUE_LENGTH = 4096
# Where agents keep what must vanish with a reboot (started-here markers): Pacemaker's HA_RSCTMP.
STATE_DIR = os.environ.get("HA_RSCTMP") or "/run/resource-agents"


class ExitCode(enum.IntEnum):
    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    DEGRADED = 190
    DEGRADED_PROMOTED = 191


HARD_ERRORS = (ExitCode.ERR_ARGS, ExitCode.ERR_INSTALLED, ExitCode.ERR_CONFIGURED)


class OcfError(Exception):
    """An outcome with an OCF code and the sentence an admin sees in ``pcs status``."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = ExitCode(code)
        self.reason = reason


# ---------------------------------------------------------------- parameter types
class ParameterType:
    """Converts the text of an OCF_RESKEY_ variable into a value, or raises ValueError."""

    ocf_type = "string"
    metavar = "TEXT"

    def describe(self):
        return ""

    def convert(self, text):
        return text

    def check_text(self, text):
        if len(text) > MAX_VALUE_LENGTH:
            raise ValueError("is longer than %d characters" % MAX_VALUE_LENGTH)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid UTF-8") from None
        if any(ord(char) < 32 or ord(char) == 127 for char in text):
            raise ValueError("contains a control character")
        return self.convert(text)


class String(ParameterType):
    pass


class Integer(ParameterType):
    ocf_type = "integer"
    metavar = "INTEGER"

    def __init__(self, minimum=None, maximum=None):
        self.minimum, self.maximum = minimum, maximum

    def describe(self):
        if self.minimum is not None and self.maximum is not None:
            return "An integer from %d to %d." % (self.minimum, self.maximum)
        return ""

    def convert(self, text):
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise ValueError("is not an integer") from None
        if self.minimum is not None and value < self.minimum:
            raise ValueError("is below the minimum %d" % self.minimum)
        if self.maximum is not None and value > self.maximum:
            raise ValueError("is above the maximum %d" % self.maximum)
        return value


class Boolean(ParameterType):
    ocf_type = "boolean"
    metavar = "BOOLEAN"
    TRUE = ("1", "true", "yes", "on", "y")
    FALSE = ("0", "false", "no", "off", "n")

    def convert(self, text):
        value = text.strip().lower()
        if value in self.TRUE:
            return True
        if value in self.FALSE:
            return False
        raise ValueError("is not a boolean (use true or false)")


class Choice(ParameterType):
    """A fixed set of words.  Rendered as a string: the ra-api-1.dtd that
    ocf-tester validates against allows no <option> children in <content>."""

    def __init__(self, *choices):
        self.choices = choices
        self.metavar = "[%s]" % "|".join(choices)

    def describe(self):
        return "One of: %s." % ", ".join(self.choices)

    def convert(self, text):
        if text not in self.choices:
            raise ValueError("is not one of %s" % ", ".join(self.choices))
        return text


class IPAddress(ParameterType):
    metavar = "ADDRESS"

    def __init__(self, version=None):
        self.version = version

    def convert(self, text):
        import ipaddress
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            raise ValueError("is not an IP address") from None
        if self.version and address.version != self.version:
            raise ValueError("is not an IPv%d address" % self.version)
        if (address.is_unspecified or address.is_multicast or address.is_loopback or address.is_link_local
                or address.is_reserved):
            raise ValueError("is not a unicast address usable by a host")
        return address


class Hostname(ParameterType):
    metavar = "HOSTNAME"

    def convert(self, text):
        name = text.strip().rstrip(".")
        labels = name.split(".")
        if not name or len(name) > 253 or not all(_is_dns_label(label) for label in labels):
            raise ValueError("is not a valid host name")
        return name


def _is_dns_label(label):
    return (0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
            and all(char.isascii() and (char.isalnum() or char == "-") for char in label))


class InterfaceName(ParameterType):
    metavar = "NIC"

    def convert(self, text):
        # The kernel's own rule (dev_valid_name): at most 15 bytes, no '/', ':' or blanks.
        if not text or len(text) > 15 or text in (".", "..") or any(
                char in "/: \t" for char in text):
            raise ValueError("is not a network interface name")
        return text


class AbsolutePath(ParameterType):
    metavar = "PATH"

    def convert(self, text):
        return _absolute_path(text)


def _absolute_path(text):
    if not text.startswith("/"):
        raise ValueError("is not an absolute path")
    parts = text.split("/")
    if ".." in parts or "." in parts:
        raise ValueError("contains '.' or '..'")
    normalised = "/" + "/".join(part for part in parts if part)
    return normalised


class PathList(ParameterType):
    """Absolute paths separated by blanks."""

    metavar = "PATHS"

    def convert(self, text):
        paths = [_absolute_path(word) for word in text.split()]
        if not paths:
            raise ValueError("names no path")
        return paths


class UnitName(ParameterType):
    metavar = "UNIT"

    def convert(self, text):
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.@\\")
        if not text or len(text) > 255 or text.startswith("-") or not set(text) <= allowed:
            raise ValueError("is not a systemd unit name")
        return text if "." in text else text + ".service"


# ---------------------------------------------------------------- declarations
class Parameter:
    def __init__(self, name, type, shortdesc, longdesc, *, default=None, required=False,
                 unique=False, reloadable=False):
        self.name, self.type = name, type
        self.shortdesc, self.longdesc = shortdesc, longdesc
        self.default, self.required, self.unique, self.reloadable = default, required, unique, reloadable

    @property
    def envvar(self):
        return "OCF_RESKEY_" + self.name


class Action:
    def __init__(self, name, timeout, *, interval=None, depth=None, role=None, start_delay=None):
        self.name, self.timeout, self.interval = name, timeout, interval
        self.depth, self.role, self.start_delay = depth, role, start_delay


class Deadline:
    """When Pacemaker will SIGKILL this action's whole process group."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self):
        return max(self._end - self._clock(), 0.0)

    def expired(self):
        return self.remaining() <= 0

    def share(self, fraction, cap=None):
        """A part of what is left, so a later step (escalation, reporting) still has time."""
        budget = self.remaining() * fraction
        return budget if cap is None else min(budget, cap)


class Params:
    """The converted parameter values, as attributes (``ctx.params.ip``)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def __repr__(self):
        return "Params(%s)" % ", ".join("%s=%r" % item for item in sorted(self.__dict__.items()))


class Context:
    def __init__(self, agent, action, params, depth, probe, deadline, instance):
        self.agent, self.action, self.params = agent, action, params
        self.depth, self.probe, self.deadline, self.instance = depth, probe, deadline, instance


class _ConfigProblem(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


BUILTIN_ACTIONS = ("meta-data", "usage", "methods", "validate-all", "reload-agent")


class Agent:
    """One resource agent: its declaration, its handlers and its entry point."""

    def __init__(self, name, shortdesc, longdesc, parameters, actions, *, version=__version__):
        self.name, self.shortdesc, self.longdesc = name, shortdesc, longdesc
        self.parameters = list(parameters)
        self.actions = list(actions)
        self.version = version
        self.handlers = {}
        names = [parameter.name for parameter in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("duplicate parameter in agent %s" % name)
        if any(parameter.reloadable for parameter in self.parameters) and not self._declared("reload-agent"):
            self.actions.append(Action("reload-agent", 10))
        if not self._declared("validate-all"):
            self.actions.append(Action("validate-all", 20))
        if not self._declared("meta-data"):
            self.actions.append(Action("meta-data", 5))

    def _declared(self, action):
        return any(declared.name == action for declared in self.actions)

    def handler(self, action):
        """Decorator: ``@agent.handler("start")``; the function takes a Context."""
        def register(function):
            self.handlers[action] = function
            return function
        return register

    # ------------------------------------------------------------ meta-data
    def metadata(self):
        from xml.etree import ElementTree as ET

        root = ET.Element("resource-agent", name=self.name, version=self.version)
        ET.SubElement(root, "version").text = OCF_VERSION
        ET.SubElement(root, "longdesc", lang="en").text = self.longdesc.strip()
        ET.SubElement(root, "shortdesc", lang="en").text = self.shortdesc
        parameters = ET.SubElement(root, "parameters")
        for parameter in self.parameters:
            attributes = {"name": parameter.name, "unique": _flag(parameter.unique),
                          "required": _flag(parameter.required)}
            if parameter.reloadable:
                attributes["reloadable"] = "1"
            element = ET.SubElement(parameters, "parameter", attributes)
            longdesc = " ".join(part for part in (parameter.longdesc.strip(),
                                                  parameter.type.describe()) if part)
            ET.SubElement(element, "longdesc", lang="en").text = longdesc
            ET.SubElement(element, "shortdesc", lang="en").text = parameter.shortdesc
            content = {"type": parameter.type.ocf_type}
            if parameter.default is not None:
                content["default"] = _render_default(parameter.default)
            ET.SubElement(element, "content", content)
        actions = ET.SubElement(root, "actions")
        for action in self.actions:
            attributes = {"name": action.name, "timeout": "%ds" % action.timeout}
            if action.interval is not None:
                attributes["interval"] = "%ds" % action.interval
            if action.start_delay is not None:
                attributes["start-delay"] = "%ds" % action.start_delay
            if action.depth is not None:
                attributes["depth"] = str(action.depth)
            if action.role is not None:
                attributes["role"] = action.role
            ET.SubElement(actions, "action", attributes)
        if hasattr(ET, "indent"):
            ET.indent(root)
        # ra-api-1.dtd predates OCF 1.1: the internal subset declares the two
        # 1.1 additions we use (reloadable, the reload-agent action) so that
        # `xmllint --valid` against the unchanged DTD still passes.
        header = ('<?xml version="1.0"?>\n'
                  '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [\n'
                  '<!ATTLIST parameter reloadable (0|1) "0">\n'
                  '<!ATTLIST action name CDATA #REQUIRED>\n'
                  ']>\n')
        return header + ET.tostring(root, encoding="unicode") + "\n"

    def usage(self):
        actions = [action.name for action in self.actions] + ["usage"]
        names = "|".join(dict.fromkeys(actions))
        lines = ["usage: %s [--PARAMETER VALUE ...] {%s}" % (self.name, names), "",
                 self.shortdesc + ".", "", "Parameters (also read from OCF_RESKEY_<name>):"]
        for parameter in self.parameters:
            flags = [flag for flag, on in (("required", parameter.required),
                                           ("unique", parameter.unique)) if on]
            default = ("" if parameter.default is None
                       else " [default: %s]" % _render_default(parameter.default))
            lines.append("  --%-18s %s%s%s" % (parameter.name, parameter.shortdesc, default,
                                                " (%s)" % ", ".join(flags) if flags else ""))
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ entry point
    def main(self, argv=None):
        """Run one action and exit with its OCF code."""
        sys.exit(int(self.run(sys.argv[1:] if argv is None else list(argv))))

    def run(self, args):
        environ = os.environ
        if any(arg.startswith("-") for arg in args):
            parsed = self._parse_command_line(args)
            if isinstance(parsed, ExitCode):
                return parsed
            raw, positional = parsed
        else:
            raw = {parameter.name: environ.get(parameter.envvar) or None for parameter in self.parameters}
            positional = args
        action = positional[0] if positional else environ.get("__OCF_ACTION", "")
        self._configure_logging(environ)
        if not action:
            sys.stderr.write(self.usage())
            return self._fail(ExitCode.ERR_ARGS, "no action given", action)
        if action in ("meta-data", "methods"):
            sys.stdout.write(self.metadata())
            return ExitCode.SUCCESS
        if action == "usage":
            sys.stdout.write(self.usage())
            return ExitCode.SUCCESS
        if action not in self.handlers and action not in BUILTIN_ACTIONS:
            return self._fail(ExitCode.ERR_UNIMPLEMENTED, "action %s is not implemented" % action, action)
        probe = action == "monitor" and environ.get("OCF_RESKEY_CRM_meta_interval", "") in ("", "0")
        depth = self._depth(action, environ.get("OCF_CHECK_LEVEL", ""))
        deadline = Deadline(self._timeout_seconds(action, environ.get("OCF_RESKEY_CRM_meta_timeout")))
        try:
            params = self._convert(raw)
        except _ConfigProblem as problem:
            return self._config_outcome(action, probe, problem.reason)
        context = Context(self, action, params, depth, probe, deadline,
                          environ.get("OCF_RESOURCE_INSTANCE", self.name))
        result = self._dispatch(context)
        if action not in ("monitor", "validate-all") or result not in (ExitCode.SUCCESS, ExitCode.NOT_RUNNING):
            _log_outcome(action, result)
        return result

    def _dispatch(self, context):
        action = context.action
        handler = self.handlers.get(action)
        try:
            if action == "validate-all" and (handler is None or context.depth < 10):
                result = ExitCode.SUCCESS  # depth 0: syntax only, already checked, silent
            elif action == "reload-agent" and handler is None:
                result = ExitCode.SUCCESS  # reloadable parameters are read at each action
            else:
                result = handler(context)
            result = ExitCode.SUCCESS if result is None else ExitCode(result)
        except OcfError as error:
            return self._error_outcome(context, error.code, error.reason)
        except Exception as error:  # noqa: BLE001 - the agent must always answer with an OCF code
            import traceback
            log.debug("%s", traceback.format_exc())
            reason = "internal error during %s: %s: %s" % (action, type(error).__name__, error)
            return self._fail(ExitCode.ERR_GENERIC, reason, action)
        if action == "monitor" and result in HARD_ERRORS:
            return self._error_outcome(context, result, "monitor answered %s" % result.name)
        return result

    def _error_outcome(self, context, code, reason):
        action = context.action
        if action == "stop" and code in (ExitCode.ERR_CONFIGURED, ExitCode.ERR_ARGS, ExitCode.ERR_INSTALLED):
            log.warning("stop: %s; nothing of this resource can be running here", reason)
            return ExitCode.SUCCESS
        if action == "monitor":
            if context.probe and code in (ExitCode.ERR_CONFIGURED, ExitCode.ERR_ARGS,
                                          ExitCode.ERR_INSTALLED, ExitCode.NOT_RUNNING):
                log.info("probe: not running here: %s", reason)
                return ExitCode.NOT_RUNNING
            if code in HARD_ERRORS:
                # 2, 5 and 6 ban the group from this node (6: from every node); with shared
                # storage one node's finding says nothing of the other's: a recurring monitor fails soft
                log.info("monitor: %s answered as %s", ExitCode(code).name, ExitCode.ERR_GENERIC.name)
                code = ExitCode.ERR_GENERIC
        return self._fail(code, reason, action)

    def _config_outcome(self, action, probe, reason):
        if action == "stop":
            log.warning("stop: %s; nothing of this resource can be running here", reason)
            return ExitCode.SUCCESS
        if action == "monitor":
            log.info("monitor: %s; it cannot be running with this configuration", reason)
            return ExitCode.NOT_RUNNING
        return self._fail(ExitCode.ERR_CONFIGURED, reason, action)

    @staticmethod
    def _fail(code, reason, action):
        line = " ".join(log.redact(reason).split())
        prefix = os.environ.get("OCF_EXIT_REASON_PREFIX") or EXIT_REASON_PREFIX
        log.error("%s: %s", action or "agent", line)
        sys.stderr.write("%s%s\n" % (prefix, line))
        return code

    # ------------------------------------------------------------ parameters
    def _convert(self, raw):
        values = {}
        for parameter in self.parameters:
            text = raw.get(parameter.name)
            if text is None:
                if parameter.required:
                    raise _ConfigProblem("required parameter %s is not set" % parameter.name)
                values[parameter.name] = parameter.default
                continue
            try:
                values[parameter.name] = parameter.type.check_text(text)
            except ValueError as error:
                shown = text if len(text) <= 64 else text[:61] + "..."
                shown = shown.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
                raise _ConfigProblem("parameter %s=%r %s" % (parameter.name, shown, error)) from None
        return Params(values)

    def _parse_command_line(self, args):
        """Options for people at a terminal; each also reads its OCF_RESKEY_ variable."""
        import click

        options = [click.Option(list(dict.fromkeys(["--" + p.name.replace("_", "-"), "--" + p.name]))
                                + [p.name], envvar=p.envvar, show_envvar=True,
                                metavar=p.type.metavar, help=p.shortdesc) for p in self.parameters]
        actions = "|".join(dict.fromkeys([a.name for a in self.actions] + ["usage"]))
        command = click.Command(
            self.name, params=options + [click.Argument(["args"], nargs=-1, metavar="ACTION")],
            help="%s.\n\nACTION is one of %s." % (self.shortdesc, actions),
            context_settings={"max_content_width": 100})
        try:
            context = command.make_context(self.name, list(args))
        except click.exceptions.Exit as done:  # --help printed
            return ExitCode(done.exit_code)
        except click.UsageError as error:
            self._configure_logging(os.environ)
            return self._fail(ExitCode.ERR_ARGS, "usage error: %s" % error.format_message(), "")
        raw = {p.name: context.params.get(p.name) or None for p in self.parameters}
        return raw, list(context.params["args"])

    # ------------------------------------------------------------ environment
    def _configure_logging(self, environ):
        def first(*names):
            return next((environ[name] for name in names if environ.get(name)), None)

        facility = first("HA_LOGFACILITY", "HA_logfacility", "PCMK_logfacility")
        if facility in ("none", "None"):
            facility = None
        logfile = first("HA_LOGFILE", "HA_logfile", "PCMK_logfile")
        if logfile in ("none", "/dev/null"):
            logfile = None
        instance = environ.get("OCF_RESOURCE_INSTANCE") or "-"
        log.configure(tag="%s(%s)" % (self.name, instance),
                      level=DEBUG if env_flag(first("HA_debug", "HA_DEBUG", "PCMK_debug")) else INFO,
                      logfile=logfile, debugfile=first("HA_DEBUGLOG", "HA_debugfile", "PCMK_debugfile"),
                      syslog_facility=facility, to_stderr=not (facility or logfile))

    def _depth(self, action, text):
        try:
            requested = int(text or 0)
        except ValueError:
            requested = 0
        if action != "monitor":
            return requested
        offered = sorted({action_.depth or 0 for action_ in self.actions if action_.name == "monitor"})
        # An unimplemented level runs the next lower one (OCF spec, check levels).
        return max([depth for depth in offered if depth <= requested] or [0])

    def _timeout_seconds(self, action, meta_timeout_ms):
        try:
            milliseconds = int(meta_timeout_ms)
            if milliseconds > 0:
                return milliseconds / 1000.0
        except (TypeError, ValueError):
            pass
        declared = [a.timeout for a in self.actions if a.name == action]
        return float(declared[0] if declared else 20)


def _log_outcome(action, result):
    """One line per action that changes something (or fails): how long it took and how much of
    that was this agent's own CPU — the rest is waiting for the daemons and the commands it runs."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    log.info("%s: rc=%d (%s) in %.2fs, own CPU %.3fs", action, int(result), result.name,
             time.monotonic() - _STARTED, usage.ru_utime + usage.ru_stime)


def _flag(value):
    return "1" if value else "0"


def _render_default(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value)
    return str(value)
