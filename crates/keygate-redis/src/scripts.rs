//! The Lua scripts: each step that must be atomic across replicas is one
//! script, run by Redis as a unit.

use std::sync::LazyLock;

use redis::Script;

/// A miss: the verdict if another replica stored one, else a claim on
/// calling the key service (`SET NX PX`), else "busy" (someone holds the
/// claim). The shard's fence (set to a new token if absent) and generation
/// come back with every answer, read in the same step.
///
/// KEYS: fence, generation. ARGV: verdict prefix, claim name, digest,
/// claim token, claim lifetime (ms), a new fence token.
pub(crate) static READ_OR_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local fence = redis.call('GET', KEYS[1])
if not fence then
  fence = ARGV[6]
  redis.call('SET', KEYS[1], fence)
end
local gen = redis.call('GET', KEYS[2]) or '0'
local name = ARGV[1] .. gen .. ':' .. ARGV[3]
local value = redis.call('GET', name)
if value then
  return {'found', fence, gen, value, redis.call('PTTL', name)}
end
if redis.call('SET', ARGV[2], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return {'claimed', fence, gen}
end
return {'busy', fence, gen}
",
    )
});

/// Stores a definite verdict only if the shard's fence is the one read
/// before the call (no invalidation touched the shard since, and Redis did
/// not lose it: an absent fence refuses), and releases the claim if it is
/// still this replica's.
///
/// KEYS: fence. ARGV: verdict name, value, lifetime (ms), id index name or
/// '', id index value, claim name, claim token, fence read.
pub(crate) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local stored = 0
if redis.call('GET', KEYS[1]) == ARGV[8] then
  redis.call('SET', ARGV[1], ARGV[2], 'PX', ARGV[3])
  if ARGV[4] ~= '' then
    redis.call('SET', ARGV[4], ARGV[5], 'PX', ARGV[3])
  end
  stored = 1
end
if redis.call('GET', ARGV[6]) == ARGV[7] then
  redis.call('DEL', ARGV[6])
end
return stored
",
    )
});

/// Releases a claim that produced no verdict (the key service failed), so
/// the replicas waiting on it may claim at once.
///
/// KEYS: claim name. ARGV: claim token.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// An invalidation's effect on one shard: moves the fence (so no call that
/// read the shard before writes its answer), and deletes what it names: a
/// key by digest, a key by id through the id index, or everything by moving
/// the generation.
///
/// KEYS: fence, generation. ARGV: kind (`key`, `id` or `all`), verdict
/// prefix, digest or id index name, new fence token.
pub(crate) static FENCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[4])
if ARGV[1] == 'key' then
  local gen = redis.call('GET', KEYS[2]) or '0'
  redis.call('DEL', ARGV[2] .. gen .. ':' .. ARGV[3])
elseif ARGV[1] == 'id' then
  local at = redis.call('GET', ARGV[3])
  if at then
    redis.call('DEL', ARGV[2] .. at)
    redis.call('DEL', ARGV[3])
  end
else
  redis.call('INCR', KEYS[2])
end
return 1
",
    )
});

/// Appends an invalidation to the log (a Stream), keeping at most the
/// configured number of entries (recording the last one trimmed as the
/// floor), and wakes the followers. Sets the incarnation if absent. A
/// session's entry also denies it in the revoked sessions (keeping the later
/// end), which drops the denials that have ended. Returns the entry's id.
///
/// KEYS: log, incarnation, floor, revoked sessions. ARGV: entry, maximum
/// length, wake channel, a new incarnation token, the session or '', the
/// end of its denial (seconds since the epoch).
pub(crate) static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if not redis.call('GET', KEYS[2]) then
  redis.call('SET', KEYS[2], ARGV[4])
end
if ARGV[5] ~= '' then
  local now = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now[1])
  local ends = tonumber(ARGV[6])
  local held = redis.call('ZSCORE', KEYS[4], ARGV[5])
  if not held or tonumber(held) < ends then
    redis.call('ZADD', KEYS[4], ends, ARGV[5])
  end
end
local id = redis.call('XADD', KEYS[1], '*', 'i', ARGV[1])
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
if excess > 0 then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
  for _, entry in ipairs(old) do
    redis.call('XDEL', KEYS[1], entry[1])
  end
  redis.call('SET', KEYS[3], old[#old][1])
end
redis.call('PUBLISH', ARGV[3], id)
return id
",
    )
});

/// Reads the log after a position, with what a follower needs to prove it
/// missed nothing, all in one step: the incarnation (this Redis process's
/// run id and the log's token, set if absent), the floor (the last entry
/// trimmed), the head (the last entry), and up to COUNT entries after the
/// position.
///
/// KEYS: log, incarnation, floor. ARGV: position, count, a new incarnation
/// token.
pub(crate) static READ_LOG: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local token = redis.call('GET', KEYS[2])
if not token then
  token = ARGV[3]
  redis.call('SET', KEYS[2], token)
end
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') or ''
local floor = redis.call('GET', KEYS[3]) or '0-0'
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local head = '0-0'
if last[1] then
  head = last[1][1]
end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return {run .. ':' .. token, floor, head, entries}
",
    )
});

/// Takes the Events lease if it is free, renews it if this replica holds
/// it; 1 if held.
///
/// KEYS: lease. ARGV: replica id, lifetime (ms).
pub(crate) static HOLD_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
",
    )
});

/// Records the fleet's Events cursor if this replica holds the lease.
///
/// KEYS: lease, cursor. ARGV: replica id, cursor, cursor lifetime (ms).
pub(crate) static ADVANCE_CURSOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
",
    )
});
