"""The Redis journal's Lua scripts: each decision on a job in one round trip.

KEYS share the batch's hash tag (one Redis Cluster slot). A claim is a key set
with ``SET NX PX`` holding its worker's id; only that worker renews or deletes it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLAIM", "RECORD", "RENEW"]

# claim: the job's record if done; else the claim (and whether it was sent) or who has it.
CLAIM: Final = """
local done = redis.call('HGET', KEYS[2], ARGV[3])
if done then return {'done', done} end
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if not ok and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ok = true
end
if ok then
  local sent = redis.call('HGET', KEYS[3], ARGV[3])
  if sent then return {'claimed', '1'} end
  return {'claimed', '0'}
end
return {'busy', tostring(redis.call('PTTL', KEYS[1]))}
"""
# renew: extend this worker's claims among KEYS; returns how many were still ours.
RENEW: Final = """
local kept = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    kept = kept + 1
  end
end
return kept
"""
# record: write one record (HSET into KEYS[2], HDEL from KEYS[3]); release the claim if ours.
RECORD: Final = """
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[3], ARGV[4]) end
for i = 2, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
if ARGV[6] == '1' and redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
