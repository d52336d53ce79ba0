"""The HTTP side of Conduit: request decoding, JSON responses, the error-to-status table and the route table.

Trigger files in `functions/http/` declare their routes here; this package owns how every route answers (its
errors, 404, 405 and HEAD) so that Conduit behaves the same under the Functions host and under devhost.
"""
