import contextlib
import importlib.metadata
import inspect
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp_retry import RetryClient
from dependency_injector import containers, providers
from pydantic import TypeAdapter

from adapters.memory import (
    InlineOnlyQueue,
    MemoryAlertBudget,
    MemoryCache,
    MemoryLinkRegistry,
    MemoryLocks,
    MemorySyncState,
    MemoryVerificationTokens,
    RedisNotConfigured,
)
from adapters.metrics import count_alert_entries, count_lookups
from adapters.notion.client import NOTION_VERSION, open_notion_client
from adapters.notion.columns import Columns
from adapters.notion.schema import NotionSchema
from adapters.notion.workspace import NotionWorkspace
from adapters.rate_limit import NotionRateLimiter
from adapters.redis_queue import RedisJobQueue
from adapters.redis_queue_health import RedisQueueHealth
from adapters.redis_store import (
    RedisAlertBudget,
    RedisCache,
    RedisCircuitBreaker,
    RedisHealth,
    RedisLinkRegistry,
    RedisLocks,
    RedisSyncState,
    RedisVerificationTokens,
    open_redis,
)
from adapters.sandbox import demo_workspace
from adapters.sentry.api import HttpSentryApi, open_sentry_client
from domain.back_links import BackLinks
from domain.databases import Databases, Place
from domain.entry_sync import EntrySync
from domain.form_columns import FormColumns
from domain.models import Assignee, Cached, Entry, SentryMember, SyncPolicy
from domain.ports import AlertBudget, Cache, JobQueue, LinkRegistry, Locks, SentryApi, SyncState, Workspace
from domain.stale_while_revalidate import StaleWhileRevalidate
from domain.use_cases.apply_comment import ApplyComment
from domain.use_cases.apply_issue_event import ApplyIssueEvent
from domain.use_cases.apply_metric_alert import ApplyMetricAlert
from domain.use_cases.apply_notion_comment import ApplyNotionComment
from domain.use_cases.apply_notion_page import ApplyNotionPage
from domain.use_cases.apply_notion_schema import ApplyNotionSchema
from domain.use_cases.check_alert_settings import CheckAlertSettings
from domain.use_cases.check_readiness import CheckReadiness
from domain.use_cases.create_alert_entry import CreateAlertEntry
from domain.use_cases.create_entry import CreateEntry
from domain.use_cases.diagnose_setup import DatabaseSetup, DiagnoseSetup
from domain.use_cases.keep_verification_token import KeepVerificationToken
from domain.use_cases.link_entry import LinkEntry
from domain.use_cases.list_assignees import ListAssignees
from domain.use_cases.list_column_options import ListColumnOptions
from domain.use_cases.observe_queue import ObserveQueue
from domain.use_cases.receive_notion_event import ReceiveNotionEvent
from domain.use_cases.receive_webhook import ReceiveWebhook
from domain.use_cases.reconcile import Reconcile
from domain.use_cases.run_job import JobHandler, RunJob
from domain.use_cases.search_entries import SearchEntries
from entrypoints.cli.jobs import observed
from entrypoints.cli.use_cases import CliUseCases, StoreTools
from entrypoints.http.app import UseCases
from entrypoints.http.metrics import BUILD
from settings import NotionConfig, Settings


def _refresher(
    name: str,
    value: Any,
    settings: providers.Provider[Settings],
    breaker: providers.Provider[RedisCircuitBreaker],
    locks: Any,
    *,
    fresh_s: Any = None,
    keep_s: Any = None,
) -> providers.Singleton[StaleWhileRevalidate[Any]]:
    fresh_s = settings.provided.cache_timeout_s if fresh_s is None else fresh_s
    # Entries outlive their freshness by far, so a stale value can be served while it is refreshed.
    keep_s = providers.Callable(_keep, fresh_s) if keep_s is None else keep_s
    cache = providers.Selector(
        settings.provided.cache_backend,
        redis=providers.Singleton(RedisCache, breaker, name=name, value=TypeAdapter(Cached[value]), keep_s=keep_s),
        memory=providers.Singleton(MemoryCache, keep_s=keep_s),
    )
    return providers.Singleton(
        StaleWhileRevalidate, cache=cache, locks=locks, fresh_s=fresh_s, on_lookup=count_lookups(name)
    )


def _kept(
    settings: providers.Provider[Settings], breaker: providers.Provider[RedisCircuitBreaker], on_redis: Any, alone: Any
) -> providers.Selector[Any]:
    # On Redis when it is configured, shared by every replica; otherwise in this process.
    return providers.Selector(
        settings.provided.cache_backend,
        redis=providers.Singleton(on_redis, breaker),
        memory=providers.Singleton(alone),
    )


def _consumer() -> str:
    # Each worker process reads the queue under its own name, so a dead one's jobs can be taken over.
    return f"{socket.gethostname()}-{os.getpid()}"


def _keep(fresh_s: int) -> int:
    return 10 * fresh_s


# What the service last saw of an entry is planned on for a day at most: Notion delivers its events at most once,
# and a change whose event was lost then shows at the next read (or at reconcile, which always reads).
SEEN_KEEP_S = 86_400
# A search answer is shared for a few seconds and never served older than SEARCH_KEEP_S: an entry
# created meanwhile must show up while the user is still typing.
SEARCH_FRESH_S, SEARCH_KEEP_S = 5, 10


@dataclass(frozen=True)
class Shared:
    """What every database's use cases share: the stores, Sentry's API, the caches and the alert cap."""

    registry: LinkRegistry
    locks: Locks
    state: SyncState
    sentry: SentryApi | None
    refresh: JobQueue | None
    back_links: BackLinks
    people: StaleWhileRevalidate[list[Assignee]]
    members: StaleWhileRevalidate[list[SentryMember]]
    searches: StaleWhileRevalidate[list[Entry]]
    budget: AlertBudget
    limit: int
    database_ids: tuple[str, ...]
    on_alert: Callable[[str], None]


def directory(configs: Sequence[NotionConfig], workspaces: Sequence[Workspace], shared: Shared) -> Databases:
    return Databases(
        [
            _place(config, workspace, [w for w in workspaces if w is not workspace], shared)
            for config, workspace in zip(configs, workspaces, strict=True)
        ]
    )


def _place(config: NotionConfig, workspace: Workspace, others: Sequence[Workspace], s: Shared) -> Place:
    # One database's use cases, as when it is the only one; `others` only keep an issue to one entry.
    sync = EntrySync(
        columns=workspace,
        people=workspace,
        assignees=s.people,
        members=s.members,
        locks=s.locks,
        state=s.state,
        policy=config.sync,
        sentry=s.sentry,
    )
    form = FormColumns(columns=workspace, offered=config.form_columns, status=config.column_names.status)
    create = CreateEntry(
        entries=workspace,
        registry=s.registry,
        locks=s.locks,
        back_links=s.back_links,
        sentry=s.sentry,
        refresh=s.refresh,
        form=form,
        others=others,
    )
    # The worker's table: each kind of job and the use case that runs it.
    jobs: dict[str, JobHandler] = {
        "sentry.issue": ApplyIssueEvent(entries=workspace, registry=s.registry, sync=sync),
        "sentry.comment": ApplyComment(
            entries=workspace,
            registry=s.registry,
            comments=workspace,
            locks=s.locks,
            state=s.state,
            policy=config.sync,
            sync=sync,
        ),
        "notion.page": ApplyNotionPage(
            columns=workspace, people=workspace, sync=sync, locks=s.locks, state=s.state, sentry=s.sentry
        ),
        "notion.schema": ApplyNotionSchema(columns=workspace),
        "sentry.event_alert": CreateAlertEntry(
            create=create,
            entries=workspace,
            registry=s.registry,
            budget=s.budget,
            limit=s.limit,
            database_ids=s.database_ids,
            sync=sync,
            comments=workspace,
            state=s.state,
            sentry=s.sentry,
            on_outcome=s.on_alert,
        ),
        # An incident is no Sentry issue: no note, details or refresh to go with its entry.
        "sentry.metric_alert": ApplyMetricAlert(
            create=CreateEntry(entries=workspace, registry=s.registry, locks=s.locks, form=form),
            entries=workspace,
            registry=s.registry,
            sync=sync,
            budget=s.budget,
            state=s.state,
            limit=s.limit,
            database_ids=s.database_ids,
            on_outcome=s.on_alert,
        ),
        "notion.comment": ApplyNotionComment(
            entries=workspace,
            comments=workspace,
            bot=workspace,
            sentry=s.sentry,
            locks=s.locks,
            state=s.state,
            policy=config.sync,
        ),
    }
    return Place(
        name=config.name,
        database_id=config.database_id,
        data_source_id=config.data_source_id,
        projects=frozenset(config.projects),
        workspace=workspace,
        create_entry=create,
        link_entry=LinkEntry(
            entries=workspace, registry=s.registry, locks=s.locks, back_links=s.back_links, refresh=s.refresh
        ),
        search_entries=SearchEntries(entries=workspace, results=s.searches),
        list_assignees=ListAssignees(people=workspace, assignees=s.people),
        check_alert_settings=CheckAlertSettings(
            entries=workspace, people=workspace, assignees=s.people, database_ids=s.database_ids, form=form
        ),
        list_column_options=ListColumnOptions(form=form, database_ids=(config.database_id,)),
        reconcile=Reconcile(entries=workspace, sync=sync),
        jobs=jobs,
    )


def _notion_workspace(
    client: RetryClient,
    *,
    config: NotionConfig,
    schemas: StaleWhileRevalidate[NotionSchema],
    base_url: str,
    webhook_secrets: Sequence[str],
    seen: Cache[dict[str, Any]] | None,
) -> NotionWorkspace:
    names = config.column_names
    return NotionWorkspace(
        client,
        database_id=config.database_id,
        data_source_id=config.data_source_id,
        columns=Columns(
            assignee=names.assignee,
            id=names.id,
            sentry_url=names.sentry_url,
            status=names.status,
            details=names.details(),
            status_options=config.sync.named_options(),
            form=config.form_columns,
        ),
        schemas=schemas,
        base_url=base_url,
        sync=config.sync,
        from_notion=bool(webhook_secrets),
        name=config.name,
        seen=None if config.sync.read_before_write else seen,
    )


def _from_notion(settings: Settings, carried: Callable[[SyncPolicy], bool]) -> bool:
    # Whether Notion's events carry this to Sentry for any configured database: check then asks for its scope.
    return bool(settings.notion_webhook_secrets) and any(carried(database.sync) for database in settings.databases)


def _other_workspaces(
    client: RetryClient,
    *,
    configs: Sequence[NotionConfig],
    schemas: StaleWhileRevalidate[NotionSchema],
    base_url: str,
    webhook_secrets: Sequence[str],
    seen: Cache[dict[str, Any]] | None,
) -> tuple[NotionWorkspace, ...]:
    return tuple(
        _notion_workspace(
            client, config=c, schemas=schemas, base_url=base_url, webhook_secrets=webhook_secrets, seen=seen
        )
        for c in configs[1:]
    )


def _setups(configs: Sequence[NotionConfig]) -> list[DatabaseSetup]:
    return [
        DatabaseSetup(
            name=c.name if len(configs) > 1 else "",
            policy=c.sync,
            status_column=c.column_names.status,
            assignee_column=c.column_names.assignee,
            details=c.column_names.details(),
        )
        for c in configs
    ]


def _one_data_source(settings: Settings) -> str:
    # Events of other data sources are dropped on receipt when there is one database to compare with.
    return settings.notion.data_source_id if settings.notion and len(settings.databases) == 1 else ""


def _joined(first: Sequence[Any], more: Sequence[Any]) -> list[Any]:
    return [*first, *more]


def _databases_first(checked: Sequence[Any], others: Sequence[Any]) -> list[Any]:
    # The default database's findings, the other databases', then Redis's and the queue's.
    return [checked[0], *others, *checked[1:]]


def _is_set(value: object) -> bool:
    return value is not None


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    # Redis is optional: without it, one replica keeps the same state in memory.
    redis = providers.Resource(open_redis, url=settings.provided.redis_url)
    redis_breaker = providers.Singleton(RedisCircuitBreaker, redis, prefix=settings.provided.redis_prefix)

    rate_limiter = providers.Singleton(
        NotionRateLimiter,
        providers.Selector(settings.provided.cache_backend, redis=redis_breaker, memory=providers.Object(None)),
        key=settings.provided.rate_limit_key,
        per_minute=settings.provided.notion_rate_limit,
        search_share=settings.provided.notion_search_share,
    )
    notion_client = providers.Resource(
        open_notion_client,
        token=settings.provided.notion_token,
        base_url=settings.provided.notion_api_base_url,
        limiter=rate_limiter,
    )
    registry = _kept(settings, redis_breaker, RedisLinkRegistry, MemoryLinkRegistry)
    locks = _kept(settings, redis_breaker, RedisLocks, MemoryLocks)
    schemas = _refresher("schema", NotionSchema, settings, redis_breaker, locks)
    people = _refresher("assignees", list[Assignee], settings, redis_breaker, locks)
    sentry_members = _refresher("sentry_members", list[SentryMember], settings, redis_breaker, locks)
    searches = _refresher(
        "search", list[Entry], settings, redis_breaker, locks, fresh_s=SEARCH_FRESH_S, keep_s=SEARCH_KEEP_S
    )
    seen_pages = providers.Selector(
        settings.provided.seen_pages_backend,
        redis=providers.Singleton(
            RedisCache, redis_breaker, name="page", value=TypeAdapter(Cached[dict[str, Any]]), keep_s=SEEN_KEEP_S
        ),
        memory=providers.Singleton(MemoryCache, keep_s=SEEN_KEEP_S),
        none=providers.Object(None),
    )
    sandbox = providers.Singleton(demo_workspace)
    # The default database's workspace; the others' beside it, on the same client (one token, one rate limit).
    workspace = providers.Selector(
        settings.provided.tracker_backend,
        notion=providers.Singleton(
            _notion_workspace,
            notion_client,
            config=settings.provided.notion,
            schemas=schemas,
            base_url=settings.provided.notion_api_base_url,
            webhook_secrets=settings.provided.notion_webhook_secrets,
            seen=seen_pages,
        ),
        sandbox=sandbox,
    )
    other_workspaces = providers.Selector(
        settings.provided.tracker_backend,
        notion=providers.Singleton(
            _other_workspaces,
            notion_client,
            configs=settings.provided.databases,
            schemas=schemas,
            base_url=settings.provided.notion_api_base_url,
            webhook_secrets=settings.provided.notion_webhook_secrets,
            seen=seen_pages,
        ),
        sandbox=providers.Object(()),
    )

    sync_state = _kept(settings, redis_breaker, RedisSyncState, MemorySyncState)
    queue = providers.Selector(
        settings.provided.cache_backend,
        redis=providers.Singleton(
            RedisJobQueue, redis, prefix=settings.provided.redis_prefix, consumer=providers.Callable(_consumer)
        ),
        memory=providers.Singleton(InlineOnlyQueue),
    )
    sentry_client = providers.Resource(
        open_sentry_client, token=settings.provided.sentry_api_token, base_url=settings.provided.sentry_url
    )
    sentry = providers.Selector(
        settings.provided.sentry_backend,
        api=providers.Singleton(
            HttpSentryApi,
            sentry_client,
            organization=settings.provided.sentry_org,
            base_url=settings.provided.sentry_url,
            assignees_from_notion=providers.Callable(_from_notion, settings, lambda sync: sync.assignee),
            comments_from_notion=providers.Callable(_from_notion, settings, lambda sync: sync.comments_to_sentry),
        ),
        none=providers.Object(None),
    )
    alert_budget = _kept(settings, redis_breaker, RedisAlertBudget, MemoryAlertBudget)
    shared = providers.Singleton(
        Shared,
        registry=registry,
        locks=locks,
        state=sync_state,
        sentry=sentry,
        # A refresh reads Sentry's API: without it, nothing is queued.
        refresh=providers.Selector(settings.provided.sentry_backend, api=queue, none=providers.Object(None)),
        back_links=providers.Singleton(BackLinks, sentry=sentry, state=sync_state, locks=locks),
        people=people,
        members=sentry_members,
        searches=searches,
        budget=alert_budget,
        limit=settings.provided.alert_create_limit,
        database_ids=settings.provided.database_ids,
        on_alert=providers.Callable(count_alert_entries),
    )
    databases = providers.Singleton(
        directory,
        configs=settings.provided.databases,
        workspaces=providers.Callable(_joined, providers.List(workspace), other_workspaces),
        shared=shared,
    )
    run_job = providers.Singleton(RunJob, handlers=databases.provided.jobs.call())
    receive_webhook = providers.Factory(
        ReceiveWebhook, queue=queue, run=run_job, triggers=providers.Callable(_is_set, sentry)
    )
    verification_tokens = _kept(settings, redis_breaker, RedisVerificationTokens, MemoryVerificationTokens)
    keep_verification_token = providers.Factory(
        KeepVerificationToken, tokens=verification_tokens, active=settings.provided.notion_webhook_secrets
    )
    # The Notion job kinds are queued even before a handler for them is registered: a worker that has one
    # applies them, and RunJob sets aside those nobody handles. With several databases, workers skip the events
    # of data sources none of them has. All databases share the token, so the default one names its workspace;
    # they keep the entries last seen in the same store, so the default one forgets for all.
    receive_notion_event = providers.Factory(
        ReceiveNotionEvent,
        queue=queue,
        run=run_job,
        people=workspace,
        data_source_id=providers.Callable(_one_data_source, settings),
        columns=workspace,
    )

    checked = providers.List(
        workspace,
        providers.Selector(
            settings.provided.cache_backend,
            redis=providers.Singleton(
                RedisHealth, redis, url=settings.provided.redis_url, variables=settings.provided.redis_variables
            ),
            memory=providers.Singleton(RedisNotConfigured),
        ),
    )
    check_readiness = providers.Singleton(CheckReadiness, dependencies=checked)
    diagnose_setup = providers.Factory(
        DiagnoseSetup,
        dependencies=providers.Callable(
            _databases_first,
            providers.Selector(
                settings.provided.cache_backend,
                redis=providers.List(*checked.args, providers.Singleton(RedisQueueHealth, queue)),
                memory=checked,
            ),
            other_workspaces,
        ),
        databases=providers.Callable(_setups, settings.provided.databases),
        sentry=sentry,
        webhook_secrets=settings.provided.notion_webhook_secrets,
        tokens=verification_tokens,
    )
    observe_queue = providers.Factory(ObserveQueue, queue=queue)


@contextlib.asynccontextmanager
async def open_use_cases(container: Container) -> AsyncIterator[UseCases]:
    BUILD.info({"version": version(), "notion_api_version": NOTION_VERSION})
    readiness: CheckReadiness | None = None
    try:
        readiness = await resolve(container.check_readiness())
        databases: Databases = await resolve(container.databases())
        yield UseCases(
            create_entry=databases.create_entry,
            link_entry=databases.link_entry,
            search_entries=databases.search_entries,
            list_assignees=databases.list_assignees,
            check_readiness=readiness,
            receive_webhook=await resolve(container.receive_webhook()),
            observe_queue=await resolve(container.observe_queue()),
            keep_verification_token=await resolve(container.keep_verification_token()),
            receive_notion_event=await resolve(container.receive_notion_event()),
            list_databases=databases.list_databases,
            check_alert_settings=databases.check_alert_settings,
            list_column_options=databases.list_column_options,
        )
    finally:
        if readiness is not None:
            await readiness.stop()  # its probe uses the clients closed below
        await resolve(container.shutdown_resources())


@contextlib.asynccontextmanager
async def open_cli_use_cases(container: Container) -> AsyncIterator[CliUseCases]:
    # Inside the HTTP app's use cases, which `serve` needs, so that resources are shut down once.
    async with open_use_cases(container) as http:
        yield CliUseCases(
            http=http,
            queue=await resolve(container.queue()),
            handle_job=observed(await resolve(container.run_job())),
            reconcile=(await resolve(container.databases())).reconcile,
            diagnose_setup=await resolve(container.diagnose_setup()),
        )


@contextlib.asynccontextmanager
async def open_store(container: Container) -> AsyncIterator[StoreTools]:
    # Redis's records alone: nothing of Notion is built.
    try:
        yield StoreTools(
            queue=await resolve(container.queue()),
            verification_tokens=await resolve(container.verification_tokens()),
            alerts=await resolve(container.alert_budget()),
        )
    finally:
        await resolve(container.shutdown_resources())


def version() -> str:
    try:
        return importlib.metadata.version("sentry-notion")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


async def resolve(value: Any) -> Any:
    # dependency-injector hands back an awaitable only for providers that touch an async resource.
    return await value if inspect.isawaitable(value) else value
