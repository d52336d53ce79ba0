"""A module that fails to import: discovery must report it and still load the others."""

raise RuntimeError("this module is broken on purpose")
