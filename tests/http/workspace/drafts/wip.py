raise RuntimeError('a draft that discovery must not import')
