"""Durable activity functions (all I/O happens here).

Their trigger parameters are annotated `dict`, not `dict[str, Any]`: the Azure Functions Python
worker refuses PEP 585 generics on a binding parameter (devhost/worker_rules.py mirrors why).
"""
