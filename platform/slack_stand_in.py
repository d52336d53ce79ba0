"""`slack_send_message`: a LOCAL STAND-IN for the DAG seed's Slack action, so its example DAG runs here.

The seed's `action` node names a Composio tool (`tool: "slack"`, `action: "send_message"`); Conduit maps that to
the registered workflow `slack_send_message` (`<tool>_<action>`). This one posts nothing: it checks the message as
Slack would (a channel name, a non-empty text within Slack's limit), logs it, and returns what it would have posted.
Replace it with a workflow that calls Slack's `chat.postMessage` (token from `context.get_secret`) to post for real.
"""

from shared import ExecutionContext, UserError, param, workflow

SLACK_TEXT_LIMIT = 40_000  # chat.postMessage truncates longer text


@workflow(
    name="slack_send_message",
    description="Stand-in for Slack's send_message: logs the message and returns what it would post (posts nothing).",
    category="Examples",
    execution_mode="sync",
    timeout_seconds=30,
)
@param("channel", type="string", required=True, help_text="#channel, or a channel / user id")
@param("message", type="string", required=True)
@param("connection_id", type="string", help_text="Which Slack connection would post (the seed's connection_id)")
async def slack_send_message(context: ExecutionContext, channel: str, message: str,
                             connection_id: str | None = None) -> dict:
    channel = channel.strip()
    if not channel or " " in channel:
        raise UserError(f"'{channel}' is not a Slack channel: write #name, or a channel or user id")
    if not message.strip():
        raise UserError("the message is empty; Slack refuses empty text")
    text = message[:SLACK_TEXT_LIMIT]
    context.logger.info("stand-in: would post to %s (%d characters) via %s", channel, len(text),
                        connection_id or "the default connection")
    return {"posted": False, "stand_in": True, "channel": channel, "text": text, "connection_id": connection_id,
            "truncated": len(text) < len(message)}
