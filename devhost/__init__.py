"""Run this Function App locally without Azure Functions Core Tools."""
