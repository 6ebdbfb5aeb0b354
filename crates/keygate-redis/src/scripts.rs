//! The Lua scripts: each step that must be atomic across replicas is one
//! script, run by Redis as a unit.

use std::sync::LazyLock;

use redis::Script;

/// A miss: the verdict if another replica stored one, else a claim on
/// calling the key service (`SET NX PX`), else "busy" (someone holds the
/// claim). The epoch and generation come back with every answer, read in
/// the same step.
///
/// KEYS: epoch, generation. ARGV: verdict prefix, claim name, digest,
/// claim token, claim lifetime (ms).
pub(crate) static READ_OR_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[1]) or '0'
local gen = redis.call('GET', KEYS[2]) or '0'
local name = ARGV[1] .. gen .. ':' .. ARGV[3]
local value = redis.call('GET', name)
if value then
  return {'found', epoch, gen, value, redis.call('PTTL', name)}
end
if redis.call('SET', ARGV[2], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return {'claimed', epoch, gen}
end
return {'busy', epoch, gen}
",
    )
});

/// Stores a definite verdict, only if no invalidation moved the epoch since
/// it was read before the call (so a revocation that happened meanwhile is
/// not overwritten by the answer given before it), and releases the claim if
/// it is still this replica's.
///
/// KEYS: epoch. ARGV: verdict name, value, lifetime (ms), id index name or
/// '', id index value, claim name, claim token, epoch read.
pub(crate) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local stored = 0
if (redis.call('GET', KEYS[1]) or '0') == ARGV[8] then
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

/// An invalidation: moves the epoch, deletes what it names (a key by digest,
/// a key by id through the id index, or everything by moving the
/// generation), and publishes it to every replica, as one step.
///
/// The epoch moves to a fresh random token rather than a count, so that a
/// Redis restarted empty cannot count back up to an epoch a call in flight
/// read before the restart.
///
/// KEYS: epoch, generation. ARGV: kind (`key`, `id` or `all`), verdict
/// prefix, digest or id index name, channel, message, new epoch.
pub(crate) static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[6])
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
return redis.call('PUBLISH', ARGV[4], ARGV[5])
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
