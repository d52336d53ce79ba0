raise RuntimeError("a _-prefixed folder is never imported")
