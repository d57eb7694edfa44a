"""The Redis journal's Lua scripts: each decision on a job in one round trip.

KEYS share the batch's hash tag (one Redis Cluster slot), so every script runs on
one node; no script uses ``MULTI``, which a cluster refuses across keys.

A claim is a key set with ``PX`` holding ``worker:token``: the worker's id and a
fencing token, a number the batch's ``fence`` counter gives each new claim. Every
write for a job (``SENT``, ``RECORD``) first checks that the claim still holds
exactly that value, in the same script: a worker whose lease lapsed (paused,
partitioned) while another took the job over finds its token gone and writes
nothing. Times come from Redis (``TIME``), never from the workers' clocks.

The ``epoch`` key is a token written when the batch's first worker starts and
passed by every claim: if it is gone, Redis lost the batch's records (restarted
without persistence), and the claim says so once.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLAIM", "RECORD", "RENEW", "SENT", "START", "UPLOADED"]

# Keys every script below refreshes, by name: the batch's records expire together.
_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# start: KEYS epoch. ARGV token, ttl_ms. -> {epoch, now_ms}: the batch's epoch
# (this one if it is the first worker) and Redis's time, from which failures
# recorded are "earlier" (retry_failed).
START: Final = (
    _NOW
    + """
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {redis.call('GET', KEYS[1]), tostring(now)}
"""
)

# claim: KEYS claim, ok, sent, final, final_at, fence, epoch.
# ARGV worker, lease_ms, voice_id, since_ms, epoch, ttl_ms.
# -> {'done', record, lost} | {'failed', record, lost} | {'busy', pttl_ms, lost}
#    | {'claimed', token, lost, sent}; lost is 1 when the epoch had vanished.
CLAIM: Final = """
local lost = 0
if ARGV[5] ~= '' and redis.call('GET', KEYS[7]) ~= ARGV[5] then
  lost = 1
  redis.call('SET', KEYS[7], ARGV[5], 'PX', ARGV[6])
end
local done = redis.call('HGET', KEYS[2], ARGV[3])
if done then return {'done', done, lost} end
local final = redis.call('HGET', KEYS[4], ARGV[3])
if final and tonumber(redis.call('HGET', KEYS[5], ARGV[3]) or '0') >= tonumber(ARGV[4]) then
  return {'failed', final, lost}
end
local holder = redis.call('GET', KEYS[1])
local token
if holder then
  local mine = ARGV[1] .. ':'
  if string.sub(holder, 1, #mine) ~= mine then
    return {'busy', tostring(redis.call('PTTL', KEYS[1])), lost}
  end
  token = string.sub(holder, #mine + 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  token = tostring(redis.call('INCR', KEYS[6]))
  redis.call('PEXPIRE', KEYS[6], ARGV[6])
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
end
return {'claimed', token, lost, redis.call('HEXISTS', KEYS[3], ARGV[3])}
"""

# sent: KEYS claim, sent. ARGV holder, voice_id, record, ttl_ms.
# -> 1, or 0 when the claim is no longer this holder's (nothing written).
SENT: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

# record: KEYS claim, ok, sent, failed, final, final_at, epoch.
# ARGV holder, voice_id, kind ('ok' | 'failed' | 'final' | 'conflict' | 'release'),
# record, ttl_ms. Writes the record and releases the claim, if the claim is still
# this holder's (for 'release', holder is the worker's id and ':', matched as a
# prefix); -> 1, or 0 (nothing written).
RECORD: Final = (
    _NOW
    + """
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  -- by the worker's prefix: a claim taken by a call cancelled before its answer
  -- was read is released too
  if not holder or string.sub(holder, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
elseif holder ~= ARGV[1] then
  return 0
end
local v, kind = ARGV[2], ARGV[3]
if kind == 'ok' then
  redis.call('HSET', KEYS[2], v, ARGV[4])
  redis.call('HDEL', KEYS[4], v)
  redis.call('HDEL', KEYS[5], v)
  redis.call('HDEL', KEYS[6], v)
elseif kind ~= 'release' then
  redis.call('HSET', KEYS[4], v, ARGV[4])
  if kind == 'failed' then
    redis.call('HDEL', KEYS[5], v)
    redis.call('HDEL', KEYS[6], v)
  else
    redis.call('HSET', KEYS[5], v, ARGV[4])
    redis.call('HSET', KEYS[6], v, tostring(now))
  end
  -- A conflict that was not recovered: the id existed before this batch sent
  -- anything, so a 2039 on a re-run is no recovery either.
  if kind == 'conflict' then redis.call('HDEL', KEYS[3], v) end
end
for i = 2, 7 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
redis.call('DEL', KEYS[1])
return 1
"""
)

# renew: KEYS this worker's claims. ARGV holders (one per key, in order), lease_ms.
# -> for each key, 1 if it was still this holder's (and is extended), else 0.
RENEW: Final = """
local kept = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('PEXPIRE', key, ARGV[#KEYS + 1])
    kept[i] = 1
  else
    kept[i] = 0
  end
end
return kept
"""

# uploaded: KEYS uploads. ARGV field, file_id, ttl_ms. The first upload of a
# content wins; -> the file_id recorded.
UPLOADED: Final = """
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], ARGV[1])
"""
