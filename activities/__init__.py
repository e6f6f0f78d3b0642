"""Durable activity functions (all I/O happens here).

Their trigger parameters are annotated with the TypedDicts of orchestrations/contract.py, plain
classes: the Azure Functions Python worker refuses PEP 585 generics such as `dict[str, Any]` on a
binding parameter (devhost/worker_rules.py mirrors why).
"""
