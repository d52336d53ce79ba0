"""Half-written: named in .conduitignore, so Conduit never imports it."""

from bifrost import workflow

raise RuntimeError("drafts/ must be skipped: this file is not finished")


@workflow
async def bulk_import():
    pass
