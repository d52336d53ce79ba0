"""The workspace's own checks of its helpers (run by its authors, not by Conduit): the tests/ folder is skipped.

If Conduit imported this file, `hello_world` below would be a second function of that name (a load error).
"""

from bifrost import workflow


@workflow(name="hello_world")
async def fake_hello_world(context, name: str):
    return {"message": f"stub for {name}"}


def check_username_rules():
    import helpers

    assert helpers.username_for("Ada", "Lovelace") == "ada.lovelace"
