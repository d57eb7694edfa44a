"""The shared gate's one Lua script: a GCRA-style reservation plus the local gate's rules.

Kept apart from the Python that calls it so each reads as one idea. The tuning
constants are the local gate's (`_pacing`), written into the source once, so both
gates follow the same rules. All time comes from Redis ``TIME``: hosts' clocks may
disagree by minutes and it changes nothing.

Keys (one hash tag, so one Redis Cluster slot): the state hash, the recent
departure times (for the rate actually sent), the moments the allowance was spent
(for the measured rate), and the workers seen lately (for the fallback's fair share).
Every call refreshes every key's TTL, so an idle account leaves nothing behind.
"""

from __future__ import annotations

from typing import Final

from . import _pacing

__all__ = ["SCRIPT"]

_SOURCE: Final = r"""
local state, sent, spent, workers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, worker = ARGV[1], ARGV[2]
local successes = tonumber(ARGV[3])
local ceiling = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local heartbeat = tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local function fmt(x) return string.format('%.17g', x) end
local function num(field, default)
  local v = redis.call('HGET', state, field)
  if v then return tonumber(v) end
  return default
end

-- rate: requests per second, 0 while unpaced (no limit told, none met yet)
local rate = num('rate', nil)
if rate == nil then rate = ceiling or 0 end
if ceiling and (rate == 0 or rate > ceiling) then rate = ceiling end
local step = num('step', 0)
local accepted = num('accepted', 0)
local cooldown = num('cooldown', 0)
local held = num('held', 0)
local generation = num('generation', 0)

local function send_rate()
  local times = redis.call('LRANGE', sent, 0, -1)
  local n = #times
  if n < 2 then return math.huge end
  local newest, oldest = tonumber(times[1]), tonumber(times[n])
  if newest <= oldest then return math.huge end
  return (n - 1) / (newest - oldest)
end

-- Successes since this worker's last call: additive increase, only while the gate is
-- what holds requests back (see _pacing.RateGate.on_success).
if successes > 0 then
  accepted = accepted + successes
  cooldown = 0
  if rate > 0 and (held == 1 or rate <= 2 * send_rate()) then
    rate = rate + successes * step / rate
    if ceiling and rate > ceiling then rate = ceiling end
  end
  held = 0
end

redis.call('ZADD', workers, now, worker)
redis.call('ZREMRANGEBYSCORE', workers, '-inf', now - heartbeat)
local live = redis.call('ZCARD', workers)
local result

if op == 'acquire' then
  local max_wait = tonumber(ARGV[7])
  local interval = 0
  if rate > 0 then interval = 1 / rate end
  local last = num('last', nil)
  local closed = num('closed_until', 0)
  local slot = now
  if last then
    local start = math.max(last + interval, closed)
    -- No saved credit: a slot in the past is kept only if barely missed.
    if start > now or now - start <= @LATE_WAKE@ * interval then slot = start end
  elseif closed > now then
    slot = closed
  end
  local wait = slot - now
  if max_wait and wait > max_wait then
    result = {0, '0', generation, live, fmt(rate)}
  else
    if wait > 0 then held = 1 end
    redis.call('HSET', state, 'last', fmt(slot))
    redis.call('HSETNX', state, 'first_sent', fmt(now))
    redis.call('LPUSH', sent, fmt(slot))
    redis.call('LTRIM', sent, 0, @MIN_SAMPLES@ - 1)
    result = {1, fmt(wait), generation, live, fmt(rate)}
  end
else -- 'limited': a request sent in generation ARGV[7] was refused for its rate
  -- ARGV[8]: the answer's Retry-After in seconds (0: none), a floor of the cooldown.
  local hint = tonumber(ARGV[8]) or 0
  if hint > 0 then
    local floor = now + math.min(hint, @MAX_COOLDOWN@)
    if num('closed_until', 0) < floor then redis.call('HSET', state, 'closed_until', fmt(floor)) end
  end
  if tonumber(ARGV[7]) ~= generation then
    result = {0, '0', generation, live, fmt(rate)}  -- old news: acted on already
  else
    generation = generation + 1
    local sending = rate
    if sending == 0 then sending = math.huge end
    sending = math.min(sending, send_rate())
    if sending == math.huge then
      local elapsed = now - num('first_sent', now)
      if accepted > 0 and elapsed > 0 then sending = accepted / elapsed else sending = 0 end
      sending = math.max(sending, @START_PER_SECOND@)
    end
    step = @INCREASE@ * sending
    local measured = nil
    local marks = redis.call('LRANGE', spent, 0, -1)
    for i = 1, #marks do
      local sep = string.find(marks[i], ' ', 1, true)
      local when = tonumber(string.sub(marks[i], 1, sep - 1))
      local count = tonumber(string.sub(marks[i], sep + 1))
      if accepted - count >= @MIN_SAMPLES@ and now > when then
        measured = (accepted - count) / (now - when)
        break
      end
    end
    local target
    if measured == nil then
      target = sending * @MIN_DECREASE@
    elseif sending > @OVERSHOOT@ * measured then
      target = math.max(measured * @BELOW@, sending * @MIN_DECREASE@ * @MIN_DECREASE@)
    else
      target = math.min(math.max(measured * @BELOW@, sending * @DECREASE@), sending * @BELOW@)
    end
    rate = math.max(target, 1 / @MAX_COOLDOWN@)
    redis.call('LPUSH', spent, fmt(now) .. ' ' .. fmt(accepted))
    redis.call('LTRIM', spent, 0, @SPENT_KEPT@ - 1)
    if cooldown > 0 then
      cooldown = math.min(cooldown * 2, @MAX_COOLDOWN@)
    else
      cooldown = math.min(math.max(@COOLDOWN_INTERVALS@ / rate, @MIN_COOLDOWN@), @MAX_COOLDOWN@)
    end
    redis.call('HSET', state, 'closed_until', fmt(math.max(num('closed_until', 0), now + cooldown)))
    result = {1, '0', generation, live, fmt(rate)}
  end
end

redis.call('HSET', state, 'rate', fmt(rate), 'step', fmt(step), 'accepted', fmt(accepted),
  'cooldown', fmt(cooldown), 'held', held, 'generation', generation)
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end  -- a missing key: no-op
return result
"""


def _render(source: str) -> str:
    for name in (
        "LATE_WAKE",
        "MIN_SAMPLES",
        "START_PER_SECOND",
        "INCREASE",
        "MIN_DECREASE",
        "OVERSHOOT",
        "BELOW",
        "DECREASE",
        "MAX_COOLDOWN",
        "COOLDOWN_INTERVALS",
        "MIN_COOLDOWN",
        "SPENT_KEPT",
    ):
        source = source.replace(f"@{name}@", repr(getattr(_pacing, name)))
    assert "@" not in source, "a constant of the script was not filled in"
    return source


#: The script, with the local gate's constants in place.
SCRIPT: Final = _render(_SOURCE)
