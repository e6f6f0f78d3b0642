"""The sample Contoso internet-support specialists: six A2A 1.0 servers on a2a-sdk.

Start them with `python -m agents`, or from code with `agents.server.start_agents`.
"""
