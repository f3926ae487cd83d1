"""runlog: log metrics and files from Python into a run history.

The Azure ML Workbench logging API over runlog's spool ring (the same ring
as the C API, so ``runlog run -- python train.py`` records it)::

    from runlog import get_azureml_logger
    logger = get_azureml_logger()
    logger.log("simple integer value", 7)
    logger.log("my metric 1", 1).wait()
    logger.upload("artifact/path", "This is a text-based artifact")

See docs/python.md.
"""

from ._runlog import Logger, Pending, get_logger, open
from ._errors import Error, Status

#: The original name: ``from azureml.logging import get_azureml_logger``
#: becomes ``from runlog import get_azureml_logger``.
get_azureml_logger = get_logger

__all__ = [
    "Error",
    "Logger",
    "Pending",
    "Status",
    "get_azureml_logger",
    "get_logger",
    "open",
]
