"""Config values and secrets that admins manage over HTTP (`/api/config`): typed values per organization and
global, secrets encrypted at rest and never answered, every access decided by the policy module. Workflows read
them through `context.get_config` / `context.get_secret` (shared/engine/config.py)."""
