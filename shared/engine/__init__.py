"""The engine: the one way user code runs, whatever triggered it.

Owns an execution on its way through the pipeline (`invocation`), the layers that wrap the user call (deadline,
classification, capture, persistence, supervision), the thread and task bookkeeping for code that will not stop,
and the execution context user code receives. `core.Engine` composes them; `shared.runtime.execute` is the facade
every trigger calls.
"""
