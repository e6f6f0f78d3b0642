"""A Function App that cannot be imported."""

import azure.functions as func
from a_module_that_does_not_exist import something  # noqa: F401

app = func.FunctionApp()
