"""A helper package in the test workspace, imported by plain name from a workflow module."""


def shout(text: str) -> str:
    return text.upper() + "!"
