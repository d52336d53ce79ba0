"""DAG workflows: JSON graphs of nodes and edges that run through the same engine as Python workflows.

A definition (`definition.py`) is checked as a whole (`validation.py`, every problem at once), registers as one more
`FunctionMetadata` (tags `workflow`, `dag`) whose function runs the graph (`executor.py`), and is rendered for people
(`mermaid.py`). What a node of each type does lives in `nodes/`, one handler per type in one registry.
"""
