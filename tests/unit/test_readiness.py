import asyncio

from adapters.memory import MemoryVerificationTokens
from domain.errors import StoreUnavailable
from domain.models import DependencyHealth, Finding, PendingToken, SyncPolicy
from domain.use_cases.check_readiness import CheckReadiness
from domain.use_cases.diagnose_setup import DatabaseSetup, DiagnoseSetup

WAIT_S = 5.0  # a bound on waiting, never a claim about speed


class Probe:
    def __init__(self, name: str, *, required: bool, ok: bool = True) -> None:
        self.name, self.required, self.ok, self.probes = name, required, ok, 0
        self.answer, self.started = asyncio.Event(), asyncio.Event()
        self.answer.set()

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        self.probes += 1
        self.started.set()
        await self.answer.wait()
        return [Finding(check=self.name, ok=self.ok, detail="thorough" if thorough else "quick")]


async def settled(readiness: CheckReadiness) -> list[DependencyHealth]:
    async with asyncio.timeout(WAIT_S):
        while True:
            health = await readiness()
            if all(h.checked_at is not None for h in health):
                return health
            await asyncio.sleep(0.01)


async def test_answers_before_any_probe_ends_and_reports_each_dependency_once_probed() -> None:
    notion, redis = Probe("Notion", required=True), Probe("Redis", required=False, ok=False)
    readiness = CheckReadiness(dependencies=[notion, redis], wall_clock=lambda: 1_700_000_000.0)

    first = await readiness()
    health = await settled(readiness)

    assert [(h.name, h.findings, h.checked_at, h.up) for h in first] == [
        ("Notion", [], None, False),
        ("Redis", [], None, False),
    ]
    assert [(h.name, h.up, h.checked_at) for h in health] == [
        ("Notion", True, 1_700_000_000.0),
        ("Redis", False, 1_700_000_000.0),
    ]
    assert [(f.check, f.ok, f.detail) for h in health for f in h.findings] == [
        ("Notion", True, "quick"),
        ("Redis", False, "quick"),
    ]


async def test_a_hanging_dependency_never_holds_up_the_answer_and_fails_after_the_timeout() -> None:
    notion, redis = Probe("Notion", required=True), Probe("Redis", required=False)
    notion.answer.clear()  # Notion hangs for the whole test
    readiness = CheckReadiness(dependencies=[notion, redis], timeout_s=0.05)

    health = await settled(readiness)

    assert not notion.answer.is_set()
    assert [(f.check, f.ok, f.detail) for h in health for f in h.findings] == [
        ("Notion", False, "did not answer within 0.05 s"),
        ("Redis", True, "quick"),
    ]


async def test_probes_at_most_every_interval_and_one_probe_at_a_time() -> None:
    now = [0.0]
    notion = Probe("Notion", required=True, ok=False)
    readiness = CheckReadiness(dependencies=[notion], interval_s=30, clock=lambda: now[0])

    assert not (await settled(readiness))[0].up
    notion.ok = True
    now[0] = 29.9
    assert not (await settled(readiness))[0].up  # the last answer still stands
    now[0] = 30.0
    notion.answer.clear()
    notion.started.clear()
    await readiness()
    await asyncio.wait_for(notion.started.wait(), WAIT_S)
    now[0] = 61.0
    await readiness()  # due again, but the probe started at 30 s is still running
    await asyncio.sleep(0.05)
    assert notion.probes == 2
    await readiness.stop()


async def test_stop_cancels_the_probe_in_flight() -> None:
    notion = Probe("Notion", required=True)
    notion.answer.clear()
    readiness = CheckReadiness(dependencies=[notion])
    await readiness()
    await asyncio.wait_for(notion.started.wait(), WAIT_S)

    await readiness.stop()

    assert (await readiness())[0].checked_at is None


def diagnose(
    *dependencies: Probe,
    sentry: Probe | None = None,
    policy: SyncPolicy | None = None,
    secrets: tuple[str, ...] = ("notion-token",),
    tokens: MemoryVerificationTokens | None = None,
) -> DiagnoseSetup:
    setup = DatabaseSetup(policy=policy or SyncPolicy(), status_column="Status", assignee_column="Assignee", details=())
    return DiagnoseSetup(
        dependencies=dependencies,
        databases=[setup],
        sentry=sentry,
        webhook_secrets=secrets,
        tokens=tokens or MemoryVerificationTokens(),
    )


async def test_diagnosis_is_thorough_and_lists_every_finding() -> None:
    diagnosis = await diagnose(Probe("Notion", required=True), Probe("Redis", required=False))()

    assert [(f.check, f.detail) for f in diagnosis.findings] == [
        ("Notion", "thorough"),
        ("Redis", "thorough"),
        ("Notion webhook secret", "1 set in NOTION_WEBHOOK_SECRET"),
    ]


async def test_sentry_is_diagnosed_only_when_its_token_is_set() -> None:
    with_token = await diagnose(Probe("Notion", required=True), sentry=Probe("Sentry", required=False))()
    without = await diagnose(Probe("Notion", required=True))()

    assert [f.check for f in with_token.findings] == ["Notion", "Sentry", "Notion webhook secret"]
    assert [f.check for f in without.findings] == ["Notion", "Notion webhook secret"]
    assert [(f.name, f.on) for f in without.features][-1] == ("Live details, back-links and reconcile", False)


async def test_a_feature_that_is_off_does_not_fail_the_diagnosis() -> None:
    off = SyncPolicy(status=False, assignee=False, comments=False)

    diagnosis = await diagnose(Probe("Notion", required=True), policy=off)()

    assert diagnosis.ok
    assert not any(f.on for f in diagnosis.features)


async def test_each_direction_says_why_it_is_off() -> None:
    policy = SyncPolicy(comments_to_sentry=False)

    diagnosis = await diagnose(Probe("Notion", required=True), policy=policy, secrets=())()

    assert [(f.name, f.on, f.detail) for f in diagnosis.features][:6] == [
        ("Status sync Sentry → Notion", True, "column 'Status'"),
        ("Status sync Notion → Sentry", False, "SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set"),
        ("Assignee sync Sentry → Notion", True, "column 'Assignee', matched by email"),
        ("Assignee sync Notion → Sentry", False, "SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set"),
        ("Comment sync Sentry → Notion", True, "Sentry comments become Notion comments"),
        (
            "Comment sync Notion → Sentry",
            False,
            "NOTION_CONFIG sync.comments_to_sentry is false; SENTRY_API_TOKEN not set; NOTION_WEBHOOK_SECRET not set",
        ),
    ]


async def test_no_webhook_secret_is_a_warning_until_a_handshake_waits() -> None:
    tokens = MemoryVerificationTokens()
    unset = await diagnose(Probe("Notion", required=True), secrets=(), tokens=tokens)()
    await tokens.offer("secret_from_notion", 1_780_000_000)
    waiting = await diagnose(Probe("Notion", required=True), secrets=(), tokens=tokens)()

    assert unset.ok
    assert unset.findings[-1].warning
    assert not waiting.ok
    assert waiting.findings[-1].detail == (
        "NOTION_WEBHOOK_SECRET is not set but 1 token(s) of Notion's handshake wait, the newest received "
        "2026-05-28T20:26:40+00:00; Notion → Sentry sync is off: Notion's events are refused"
    )
    assert "secret_from_notion" not in str(waiting)


async def test_a_configured_token_does_not_wait_and_an_unreadable_store_is_left_to_the_redis_line() -> None:
    tokens = MemoryVerificationTokens()
    await tokens.offer("secret_old", 1_780_000_000)

    class Down(MemoryVerificationTokens):
        async def pending(self) -> list[PendingToken]:
            raise StoreUnavailable("Redis does not answer")

    configured = await diagnose(Probe("Notion", required=True), secrets=("secret_old",), tokens=tokens)()
    down = await diagnose(Probe("Notion", required=True), secrets=(), tokens=Down())()

    assert [f.check for f in configured.findings] == ["Notion", "Notion webhook secret"]
    assert [(f.ok, f.warning) for f in down.findings] == [(True, False), (True, True)]
