"""runlog.Status and runlog.Error: the C API's statuses, as Python sees them."""

import enum

from . import _runlog

#: Every status of the C API (``runlog_status``), named without the
#: ``RUNLOG_STATUS_`` prefix: ``Status.OK == 0``, ``Status.UNSAFE_PATH == 7``...
Status = enum.IntEnum("Status", _runlog.status_names(), module=__name__)


class Error(Exception):
    """A runlog call failed: ``status`` (a :class:`Status`) and ``message``
    (why, from the C library's ``runlog_last_error`` or the binding)."""

    def __init__(self, status, message):
        super().__init__(status, message)
        try:
            self.status = Status(status)
        except ValueError:
            self.status = status
        self.message = message

    def __str__(self):
        name = getattr(self.status, "name", self.status)
        return f"{name}: {self.message}"
