from domain.models import Finding
from domain.use_cases.check_readiness import CheckReadiness
from domain.use_cases.diagnose_setup import DiagnoseSetup


class Probe:
    def __init__(self, name: str, *, required: bool, ok: bool = True) -> None:
        self.name, self.required, self.ok, self.probes = name, required, ok, 0

    async def diagnose(self, *, thorough: bool) -> list[Finding]:
        self.probes += 1
        return [Finding(check=self.name, ok=self.ok, detail="thorough" if thorough else "quick")]


async def test_ready_when_required_dependencies_answer_even_without_optional_ones() -> None:
    notion, redis = Probe("Notion", required=True), Probe("Redis", required=False, ok=False)

    ready, findings = await CheckReadiness(dependencies=[notion, redis])()

    assert ready
    assert [(f.check, f.ok, f.detail) for f in findings] == [("Notion", True, "quick"), ("Redis", False, "quick")]


async def test_not_ready_when_notion_is_down_and_probed_at_most_every_interval() -> None:
    now = [0.0]
    notion = Probe("Notion", required=True, ok=False)
    readiness = CheckReadiness(dependencies=[notion], interval_s=30, clock=lambda: now[0])

    assert (await readiness())[0] is False
    notion.ok = True
    now[0] = 29.9
    assert (await readiness())[0] is False  # the last answer still stands
    now[0] = 30.0
    assert (await readiness())[0] is True
    assert notion.probes == 2


async def test_diagnosis_is_thorough_and_lists_every_finding() -> None:
    findings = await DiagnoseSetup(dependencies=[Probe("Notion", required=True), Probe("Redis", required=False)])()

    assert [(f.check, f.detail) for f in findings] == [("Notion", "thorough"), ("Redis", "thorough")]
