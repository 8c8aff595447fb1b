"""Logging the way Pacemaker's agents log, with secrets redacted everywhere.

The OCF shim configures it from Pacemaker's environment (log file, syslog
facility, debug flag); the ``xcatha`` CLI configures it for a terminal and
/var/log/xcat/xcatha.log.  The stdlib ``logging`` package is not used: it costs
as much start-up time as a whole stock monitor, and monitors run every few
seconds for years.
"""
import os
import sys
import time

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
_LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}
_SYSLOG_PRIORITY = {DEBUG: 7, INFO: 6, WARNING: 4, ERROR: 3}
REDACTED = "********"
# What may stand on either side of a secret value in a command line, a DSN or a log line.
SEPARATORS = r"\s=|;,:'\"<>()\[\]{}"


def env_flag(value):
    """Pacemaker exports HA_debug/PCMK_debug as strings ("0", "1", "yes", a daemon list)."""
    return (value or "").strip().lower() not in ("", "0", "no", "n", "false", "off")


class Log:
    def __init__(self):
        self.tag = os.path.basename(sys.argv[0] or "xcatha")
        self.level = INFO
        self.logfile = None
        self.debugfile = None
        self.syslog_facility = None
        self.to_stderr = True
        self.secrets = set()
        self._pattern = None

    def configure(self, *, tag=None, level=None, logfile=None, debugfile=None,
                  syslog_facility=None, to_stderr=None):
        if tag is not None:
            self.tag = tag
        if level is not None:
            self.level = level
        self.logfile = logfile or self.logfile
        self.debugfile = debugfile or self.debugfile
        if syslog_facility:
            import syslog
            facility = getattr(syslog, "LOG_" + syslog_facility.upper(), syslog.LOG_DAEMON)
            syslog.openlog(self.tag, 0, facility)
            self.syslog_facility = facility
        if to_stderr is not None:
            self.to_stderr = to_stderr

    def add_secret(self, secret):
        if secret and secret not in self.secrets:
            self.secrets.add(secret)
            self._pattern = None

    def _secret_pattern(self):
        """Secrets as whole values: bounded by the text's ends or a separator, so that a
        password `xcat` is found in `user=xcat` but not in `-d xcatdb` or a path."""
        if getattr(self, "_pattern", None) is None:
            import re
            # longest first: a secret that contains another is redacted whole
            alternatives = "|".join(re.escape(s) for s in sorted(self.secrets, key=len, reverse=True))
            self._pattern = re.compile("(?<![^%s])(?:%s)(?![^%s])" % (SEPARATORS, alternatives, SEPARATORS))
        return self._pattern

    def contains_secret(self, text):
        return bool(self.secrets) and self._secret_pattern().search(str(text)) is not None

    def redact(self, text):
        text = str(text)
        if not self.secrets:
            return text
        return self._secret_pattern().sub(REDACTED, text)

    def _emit(self, level, message):
        line = self.redact(message)
        # One record per line: a value with a newline must not forge a second record.
        line = line.replace("\r", "\\r").replace("\n", "\\n")
        name = _LEVEL_NAMES[level]
        if level >= self.level:
            stamp = time.strftime("%Y/%m/%d_%H:%M:%S")
            record = "%s[%d]:\t%s %s: %s\n" % (self.tag, os.getpid(), stamp, name, line)
            if self.logfile:
                _append(self.logfile, record)
            if self.syslog_facility is not None:
                import syslog
                syslog.syslog(_SYSLOG_PRIORITY[level], "%s: %s" % (name, line))
            if self.to_stderr:
                sys.stderr.write("%s: %s\n" % (name, line))
        if self.debugfile and level == DEBUG:
            stamp = time.strftime("%Y/%m/%d_%H:%M:%S")
            _append(self.debugfile, "%s[%d]:\t%s DEBUG: %s\n" % (self.tag, os.getpid(), stamp, line))

    def debug(self, message, *args):
        if self.level <= DEBUG or self.debugfile:
            self._emit(DEBUG, message % args if args else message)

    def info(self, message, *args):
        self._emit(INFO, message % args if args else message)

    def warning(self, message, *args):
        self._emit(WARNING, message % args if args else message)

    def error(self, message, *args):
        self._emit(ERROR, message % args if args else message)


def _append(path, record):
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as stream:
            stream.write(record)
    except OSError:
        pass  # a log target that went away must never fail an action


log = Log()
