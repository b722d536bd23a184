import contextlib
import importlib.metadata
import inspect
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

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
from domain.entry_sync import EntrySync
from domain.form_columns import FormColumns
from domain.models import Assignee, Cached, Entry, SentryMember
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
from domain.use_cases.diagnose_setup import DiagnoseSetup
from domain.use_cases.keep_verification_token import KeepVerificationToken
from domain.use_cases.link_entry import LinkEntry
from domain.use_cases.list_assignees import ListAssignees
from domain.use_cases.list_column_options import ListColumnOptions
from domain.use_cases.list_databases import ListDatabases
from domain.use_cases.observe_queue import ObserveQueue
from domain.use_cases.receive_notion_event import ReceiveNotionEvent
from domain.use_cases.receive_webhook import ReceiveWebhook
from domain.use_cases.reconcile import Reconcile
from domain.use_cases.run_job import RunJob
from domain.use_cases.search_entries import SearchEntries
from entrypoints.cli.jobs import observed
from entrypoints.cli.use_cases import CliUseCases, StoreTools
from entrypoints.http.app import UseCases
from entrypoints.http.metrics import BUILD
from settings import Settings


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


# A search answer is shared for a few seconds and never served older than SEARCH_KEEP_S: an entry
# created meanwhile must show up while the user is still typing.
SEARCH_FRESH_S, SEARCH_KEEP_S = 5, 10


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
    sandbox = providers.Singleton(demo_workspace)
    workspace = providers.Selector(
        settings.provided.tracker_backend,
        notion=providers.Singleton(
            NotionWorkspace,
            notion_client,
            database_id=settings.provided.notion.database_id,
            data_source_id=settings.provided.notion.data_source_id,
            columns=providers.Factory(
                Columns,
                assignee=settings.provided.notion.column_names.assignee,
                id=settings.provided.notion.column_names.id,
                sentry_url=settings.provided.notion.column_names.sentry_url,
                status=settings.provided.notion.column_names.status,
                details=settings.provided.notion.column_names.details.call(),
                status_options=settings.provided.notion.sync.named_options.call(),
            ),
            schemas=schemas,
            base_url=settings.provided.notion_api_base_url,
            sync=settings.provided.notion.sync,
            from_notion=providers.Callable(bool, settings.provided.notion_webhook_secrets),
        ),
        sandbox=sandbox,
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
            assignees_from_notion=providers.Callable(
                all, providers.List(settings.provided.notion_webhook_secrets, settings.provided.notion.sync.assignee)
            ),
            comments_from_notion=providers.Callable(
                all,
                providers.List(
                    settings.provided.notion_webhook_secrets, settings.provided.notion.sync.comments_to_sentry
                ),
            ),
        ),
        none=providers.Object(None),
    )
    entry_sync = providers.Singleton(
        EntrySync,
        columns=workspace,
        people=workspace,
        assignees=people,
        locks=locks,
        state=sync_state,
        policy=settings.provided.notion.sync,
        sentry=sentry,
    )
    back_links = providers.Singleton(BackLinks, sentry=sentry, state=sync_state, locks=locks)
    form_columns = providers.Singleton(
        FormColumns,
        columns=workspace,
        offered=settings.provided.notion.form_columns,
        status=settings.provided.notion.column_names.status,
    )
    # A refresh reads Sentry's API: without it, nothing is queued.
    refresh = providers.Selector(settings.provided.sentry_backend, api=queue, none=providers.Object(None))
    create_entry = providers.Factory(
        CreateEntry,
        entries=workspace,
        registry=registry,
        locks=locks,
        back_links=back_links,
        sentry=sentry,
        refresh=refresh,
        form=form_columns,
    )
    alert_budget = _kept(settings, redis_breaker, RedisAlertBudget, MemoryAlertBudget)
    count_alerts = providers.Callable(count_alert_entries)
    # The worker's table: each kind of job and the use case that runs it.
    run_job = providers.Singleton(
        RunJob,
        handlers=providers.Dict(
            {
                "sentry.issue": providers.Singleton(
                    ApplyIssueEvent, entries=workspace, registry=registry, sync=entry_sync
                ),
                "sentry.comment": providers.Singleton(
                    ApplyComment,
                    entries=workspace,
                    registry=registry,
                    comments=workspace,
                    locks=locks,
                    state=sync_state,
                    policy=settings.provided.notion.sync,
                ),
                "notion.page": providers.Singleton(
                    ApplyNotionPage,
                    columns=workspace,
                    people=workspace,
                    assignees=people,
                    members=sentry_members,
                    sync=entry_sync,
                    locks=locks,
                    state=sync_state,
                    policy=settings.provided.notion.sync,
                    sentry=sentry,
                ),
                "notion.schema": providers.Singleton(ApplyNotionSchema, columns=workspace),
                "sentry.event_alert": providers.Singleton(
                    CreateAlertEntry,
                    create=create_entry,
                    entries=workspace,
                    registry=registry,
                    budget=alert_budget,
                    limit=settings.provided.alert_create_limit,
                    database_ids=settings.provided.database_ids,
                    sync=entry_sync,
                    comments=workspace,
                    state=sync_state,
                    sentry=sentry,
                    on_outcome=count_alerts,
                ),
                # An incident is no Sentry issue: no note, details or refresh to go with its entry.
                "sentry.metric_alert": providers.Singleton(
                    ApplyMetricAlert,
                    create=providers.Factory(
                        CreateEntry, entries=workspace, registry=registry, locks=locks, form=form_columns
                    ),
                    entries=workspace,
                    registry=registry,
                    sync=entry_sync,
                    budget=alert_budget,
                    limit=settings.provided.alert_create_limit,
                    database_ids=settings.provided.database_ids,
                    on_outcome=count_alerts,
                ),
                "notion.comment": providers.Singleton(
                    ApplyNotionComment,
                    entries=workspace,
                    comments=workspace,
                    bot=workspace,
                    sentry=sentry,
                    locks=locks,
                    state=sync_state,
                    policy=settings.provided.notion.sync,
                ),
            }
        ),
    )
    receive_webhook = providers.Factory(
        ReceiveWebhook, queue=queue, run=run_job, triggers=entry_sync.provided.reads_sentry
    )
    verification_tokens = _kept(settings, redis_breaker, RedisVerificationTokens, MemoryVerificationTokens)
    keep_verification_token = providers.Factory(
        KeepVerificationToken, tokens=verification_tokens, active=settings.provided.notion_webhook_secrets
    )
    # The Notion job kinds are queued even before a handler for them is registered: a worker that has one
    # applies them, and RunJob sets aside those nobody handles.
    receive_notion_event = providers.Factory(
        ReceiveNotionEvent, queue=queue, run=run_job, data_source_id=settings.provided.notion.data_source_id
    )
    reconcile = providers.Factory(Reconcile, entries=workspace, sync=entry_sync)

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
        dependencies=providers.Selector(
            settings.provided.cache_backend,
            redis=providers.List(*checked.args, providers.Singleton(RedisQueueHealth, queue)),
            memory=checked,
        ),
        policy=settings.provided.notion.sync,
        status_column=settings.provided.notion.column_names.status,
        assignee_column=settings.provided.notion.column_names.assignee,
        details=settings.provided.notion.column_names.details.call(),
        sentry=sentry,
        webhook_secrets=settings.provided.notion_webhook_secrets,
        tokens=verification_tokens,
    )
    observe_queue = providers.Factory(ObserveQueue, queue=queue)
    link_entry = providers.Factory(
        LinkEntry, entries=workspace, registry=registry, locks=locks, back_links=back_links, refresh=refresh
    )
    search_entries = providers.Factory(SearchEntries, entries=workspace, results=searches)
    list_assignees = providers.Factory(ListAssignees, people=workspace, assignees=people)
    list_databases = providers.Factory(ListDatabases, entries=workspace, database_ids=settings.provided.database_ids)
    check_alert_settings = providers.Factory(
        CheckAlertSettings,
        entries=workspace,
        people=workspace,
        assignees=people,
        database_ids=settings.provided.database_ids,
        form=form_columns,
    )
    list_column_options = providers.Factory(
        ListColumnOptions, form=form_columns, database_ids=settings.provided.database_ids
    )


@contextlib.asynccontextmanager
async def open_use_cases(container: Container) -> AsyncIterator[UseCases]:
    BUILD.info({"version": version(), "notion_api_version": NOTION_VERSION})
    readiness: CheckReadiness | None = None
    try:
        readiness = await resolve(container.check_readiness())
        yield UseCases(
            create_entry=await resolve(container.create_entry()),
            link_entry=await resolve(container.link_entry()),
            search_entries=await resolve(container.search_entries()),
            list_assignees=await resolve(container.list_assignees()),
            check_readiness=readiness,
            receive_webhook=await resolve(container.receive_webhook()),
            observe_queue=await resolve(container.observe_queue()),
            keep_verification_token=await resolve(container.keep_verification_token()),
            receive_notion_event=await resolve(container.receive_notion_event()),
            list_databases=await resolve(container.list_databases()),
            check_alert_settings=await resolve(container.check_alert_settings()),
            list_column_options=await resolve(container.list_column_options()),
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
            reconcile=await resolve(container.reconcile()),
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
