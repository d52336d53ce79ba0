"""Forms: definitions admins build (fields whose options come from data providers, conditions, expressions), their
checks against the registry, the values users submit, and running the linked workflow with them."""
