from datetime import UTC, datetime

from domain.ports import VerificationTokens


async def notion_token(tokens: VerificationTokens) -> int:
    # Prints secrets, as asked: the operator pastes them into Notion and into NOTION_WEBHOOK_SECRET.
    pending = await tokens.pending()
    if not pending:
        print(
            "No token from Notion's handshake in the last 7 days. In the integration's Webhooks tab, create the"
            " subscription (URL https://<your host>/notion/webhook) or click Resend token in its Verify dialog,"
            " then run this again."
        )
        return 0
    for kept in pending:
        print(f"{kept.token}  received {datetime.fromtimestamp(kept.received_at, UTC).isoformat(timespec='seconds')}")
    print(
        "\nNext: paste the token (the newest, unless you know which subscription sent which) into the subscription's"
        " Verify dialog in Notion, then set NOTION_WEBHOOK_SECRET to it and restart the service. To rotate, list"
        " both tokens, comma-separated, until the old subscription is deleted. A token already in"
        " NOTION_WEBHOOK_SECRET needs nothing more."
    )
    return 0
