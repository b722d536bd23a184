from datetime import UTC, datetime

from domain.ports import AlertBudget


async def held_alerts(alerts: AlertBudget) -> int:
    held = await alerts.held()
    for alert in held:
        at = datetime.fromtimestamp(alert.at, UTC).isoformat(timespec="seconds")
        print(f"{at}  {alert.subject}  rule {alert.rule} “{alert.rule_title}”  {alert.web_url}")
    print(
        f"{len(held)} alert(s) held by the hourly cap (ALERT_CREATE_LIMIT) in the last 7 days."
        + (" Create their entries from the Sentry issue page, or raise the cap." if held else "")
    )
    return 0
