# The Azure ML Workbench logging example, verbatim except for the import line
# (was: from azureml.logging import get_azureml_logger).
# Run by test_original_example.py under `runlog run -- python original_example.py`.
from runlog import get_azureml_logger

# initialize a logger object
logger = get_azureml_logger()

# log a simple integer value
logger.log("simple integer value", 7)

# log a simple float value
logger.log("simple float value", 3.141592)

# log a simple string value
logger.log("simple string value", "this is a string metric")

# log a list of numerical values, this is rendered as a chart in the run history
logger.log("chart data points", [1, 3, 5, 10, 6, 4])

# wait for the log call to complete before proceeding
logger.log("my metric 1", 1).wait()
logger.log("my metric 2", 2).wait()

# upload an artifact
logger.upload("artifact/path", "This is a text-based artifact")
