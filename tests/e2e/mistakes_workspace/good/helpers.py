"""A helper next to the good workflow, imported by plain name."""


def shout(text):
    return text.upper() + "!"
