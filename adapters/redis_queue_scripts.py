from typing import Any

from redis.exceptions import RedisError

GROUP = "workers"
# Failed jobs are handed to this consumer while they wait out their backoff: no worker runs them, so their idle
# time counts from the failure, and XPENDING tells them apart from jobs of a worker that died mid-job.
WAITING = "waiting-for-retry"
DOWN = (RedisError, OSError, TimeoutError)


# Where one deployment (one prefix) keeps its queue.
class QueueKeys:
    def __init__(self, prefix: str) -> None:
        self.jobs, self.dead = f"{prefix}:queue:jobs", f"{prefix}:queue:dead"
        self.errors, self.workers = f"{prefix}:queue:errors", f"{prefix}:queue:workers"
        self.seen = f"{prefix}:queue:seen:"  # followed by the job's dedupe key


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# Each script runs atomically in Redis: between a check and the change it guards, no other worker can act.
_TAKE_JOB = """
local function take_job(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'job' then return fields[i + 1] end
  end
  return ''
end
"""

# KEYS: seen, jobs. ARGV: dedupe_s, maxlen, job JSON.
# A full queue refuses the job rather than trimming: MAXLEN would silently drop the oldest unfinished jobs,
# while a refusal lets the caller run the job inline or log it as lost.
ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], 1, 'EX', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[3])
return 1
"""

# KEYS: jobs, dead, errors. ARGV[1]: group.
_BURY = (
    _TAKE_JOB
    + """
local function bury(id, attempts, err, now, maxlen)
  local raw = ''
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if #entry > 0 then raw = take_job(entry[1][2]) end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*',
    'job', raw, 'attempts', attempts, 'error', err, 'failed_at', now, 'source', id)
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
end
"""
)

# After `handle` raised. ARGV: group, consumer, id, error, now, max_attempts, dead_maxlen, waiting consumer.
# Answers {0, 0} when another worker took the job over meanwhile, {1, attempts} to retry, {2, attempts} when buried.
FAIL = (
    _BURY
    + """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return {0, 0} end
local attempts = tonumber(p[1][4])
if attempts >= tonumber(ARGV[6]) then
  bury(ARGV[3], attempts, ARGV[4], ARGV[5], ARGV[7])
  return {2, attempts}
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[8], 0, ARGV[3], 'JUSTID')
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return {1, attempts}
"""
)

# A job whose last attempt never finished (the worker died). ARGV: group, id, min_idle_ms, error, now, dead_maxlen.
# The idle check makes it a no-op if another worker claimed the job since we looked.
EXPIRE = (
    _BURY
    + """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
local err = ARGV[4]
local earlier = redis.call('HGET', KEYS[3], ARGV[2])
if earlier then err = err .. '; before that: ' .. earlier end
bury(ARGV[2], tonumber(p[1][4]), err, ARGV[5], ARGV[6])
return 1
"""
)

# KEYS: jobs. ARGV: group, consumer, ids. Resets the idle time of jobs this worker still holds, so a long job is
# not taken for the job of a dead worker; a job already taken over is left to its new owner.
TOUCH = """
local n = 0
for i = 3, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
"""

# KEYS: jobs. ARGV: group, consumer, idle_ms, ids. Jobs read but not started when the worker stops: they look idle for
# long past any claim_idle_s, so any worker takes them at once, and the delivery that never ran is not an attempt.
RELEASE = """
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    local count = math.max(tonumber(p[1][4]) - 1, 0)
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'RETRYCOUNT', count, 'JUSTID')
  end
end
return 0
"""

# KEYS: jobs. ARGV: group, idle_ms, keep (consumer names). Consumer names are per process, so every restart leaves
# one behind; drop those that hold nothing and have not been seen for long. Atomic, so no job is dropped with one.
FORGET = """
local gone = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  local keep = false
  for i = 3, #ARGV do if info['name'] == ARGV[i] then keep = true end end
  if not keep and info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    gone = gone + 1
  end
end
return gone
"""

# KEYS: dead, jobs. ARGV: dead letter ids. Answers those it queued again. A fresh entry has a fresh delivery
# count; dedupe is bypassed on purpose.
REPLAY = (
    _TAKE_JOB
    + """
local done = {}
for i = 1, #ARGV do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #entry > 0 then
    redis.call('XADD', KEYS[2], '*', 'job', take_job(entry[1][2]))
    redis.call('XDEL', KEYS[1], ARGV[i])
    done[#done + 1] = ARGV[i]
  end
end
return done
"""
)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: workers. ARGV: consumer, forget_ms. Scored with Redis's clock, so hosts whose clocks disagree are judged alike.
BEAT = (
    _NOW_MS
    + """
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return 0
"""
)

# KEYS: jobs, dead, workers. ARGV: live_ms. The stream holds only unfinished jobs, so its length is the backlog and
# its first id (milliseconds of Redis's clock at XADD) dates the oldest of them.
STATS = (
    _NOW_MS
    + """
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = now
if #first > 0 then oldest = tonumber(string.match(first[1][1], '^%d+')) end
return {redis.call('XLEN', KEYS[1]), math.max(now - oldest, 0), redis.call('XLEN', KEYS[2]),
  redis.call('ZCOUNT', KEYS[3], now - tonumber(ARGV[1]), '+inf')}
"""
)
