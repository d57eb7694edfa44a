"""The shared gate's Lua scripts: a GCRA-style reservation plus the local gate's rules.

Kept apart from the Python that calls them so each reads as one idea. The tuning
constants are the local gate's (`_pacing`), written into the source once, so both
gates follow the same rules (a differential test drives both through the same
events and compares them). All time comes from Redis ``TIME``: hosts' clocks may
disagree by minutes and it changes nothing; stored times are clamped against it,
so a Redis clock that steps back leaves no reservation an hour away.

One script per operation (``ACQUIRE``, ``LIMITED``, ``LEAVE``), each a shared
preamble (arguments by name, the state read with one ``HMGET``, the live workers
and their limits) and a shared epilogue (the state written with one ``HSET``).

Keys (one hash tag, so one Redis Cluster slot): the state hash, the recent
departure times (for the rate actually sent), the moments the allowance was spent
(for the measured rate), the workers seen lately (a sorted set by last call) and
the limit each of them was told. A worker is ``process:client``: the fallback's
fair share divides by live processes, and a client that closes leaves at once. A
departed worker's limit stops counting within a heartbeat; the account is paced
at the lowest limit a live worker was told. Every call refreshes every key's TTL,
so an idle account leaves nothing behind.
"""

from __future__ import annotations

from typing import Final

from voiceclone import _pacing
from voiceclone._breaker import PROBE_INTERVAL

#: Seconds between looks of a call that waits for the account's probe in flight.
PROBE_POLL: Final = 0.1

__all__ = ["ACCOUNT", "ACQUIRE", "LEAVE", "LIMITED", "NOW_FIELD", "REPLY_LENGTH", "REPORT"]

#: Fields of the state hash, read at once. Their order is the preamble's.
_FIELDS: Final = (
    "rate", "step", "accepted", "cooldown", "held", "generation",
    "last", "closed_until", "first_sent", "cap", "closed_for", "refused", "probe_at",
    "probing",
)  # fmt: skip
#: What every script answers: ok (1; 0 for no slot in time; 2 for the account's
#: refusal; 3 to wait for a probe in flight, then ask again), wait, generation,
#: live processes, rate, cap, the account's refusal.
REPLY_LENGTH: Final = 7
#: ARGV[8]: a time to use instead of Redis's ``TIME`` (the differential test's
#: virtual clock); empty in production.
NOW_FIELD: Final = 8

_PREAMBLE: Final = r"""
local state, sent, spent, workers, told = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local worker = ARGV[1]
local successes = tonumber(ARGV[2])
local ceiling = tonumber(ARGV[3])       -- this worker's limit (per second), nil if none
local ttl = tonumber(ARGV[4])
local heartbeat = tonumber(ARGV[5])
local now = tonumber(ARGV[@NOW_FIELD@])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function fmt(x) return string.format('%.17g', x) end
local v = redis.call('HMGET', state, @FIELDS@)
local rate, step, accepted = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
local cooldown, held, generation = tonumber(v[4]) or 0, tonumber(v[5]) or 0, tonumber(v[6]) or 0
local last, closed, first_sent = tonumber(v[7]), tonumber(v[8]) or 0, tonumber(v[9])
local old_cap, closed_for = tonumber(v[10]), tonumber(v[11]) or 0
-- The account breaker: the refusal that opened it ('' while closed), and when the
-- next probe may go (one for all the account's workers).
local refused, probe_at = v[12] or '', tonumber(v[13]) or 0
local probing = tonumber(v[14]) or 0  -- when the probe in flight left (0: none)

-- Live workers: this one now; those silent past the heartbeat are gone, and so are
-- the limits they were told.
redis.call('ZADD', workers, now, worker)
local gone = redis.call('ZRANGEBYSCORE', workers, '-inf', now - heartbeat)
for i = 1, #gone do redis.call('HDEL', told, gone[i]) end
redis.call('ZREMRANGEBYSCORE', workers, '-inf', now - heartbeat)
if ceiling then
  redis.call('HSET', told, worker, fmt(ceiling))
else
  redis.call('HDEL', told, worker)
end
local cap = nil
local limits = redis.call('HVALS', told)
for i = 1, #limits do
  local c = tonumber(limits[i])
  if cap == nil or c < cap then cap = c end
end
local processes, live = {}, 0
local members = redis.call('ZRANGE', workers, 0, -1)
for i = 1, #members do
  local p = string.match(members[i], '^[^:]*')
  if not processes[p] then processes[p] = true; live = live + 1 end
end

-- rate: requests per second, 0 while unpaced (no limit told, none met yet). It never
-- exceeds the lowest live limit, and follows a raised one when it was held at the old.
if rate == nil then rate = cap or 0 end
if cap then
  if rate == 0 or rate > cap then
    rate = cap
  elseif old_cap and cap > old_cap and rate >= old_cap then
    rate = cap
  end
end

-- Stored times are clamped against now: a Redis clock that stepped back (a failover
-- to a replica behind, a restored VM) leaves no cooldown longer than the one set,
-- and no reservation further ahead than one interval per live client after it.
local interval = 0
if rate > 0 then interval = 1 / rate end
if closed > now + closed_for then closed = now + closed_for end
if last and last > math.max(closed, now) + (#members + 1) * interval then
  last = math.max(closed, now) + (#members + 1) * interval
end
if first_sent and first_sent > now then first_sent = now end

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
-- One at a time, as the local gate counts them: each raises the rate from where the
-- last left it, and only the first can have been held back. Any success also says
-- the account works: the breaker closes.
if successes > 0 then
  refused = ''
  probing = 0
  local sending = send_rate()
  for _ = 1, successes do
    accepted = accepted + 1
    cooldown = 0
    if rate > 0 and (held == 1 or rate <= 2 * sending) then
      rate = rate + step / rate
      if cap and rate > cap then rate = cap end
    end
    held = 0
  end
end
local result
local function reply(ok, wait)
  return {ok, wait, generation, live, fmt(rate), cap and fmt(cap) or '', refused}
end
"""

_EPILOGUE: Final = r"""
redis.call('HSET', state, 'rate', fmt(rate), 'step', fmt(step), 'accepted', fmt(accepted),
  'cooldown', fmt(cooldown), 'held', held, 'generation', generation,
  'closed_until', fmt(closed), 'closed_for', fmt(closed_for), 'cap', cap and fmt(cap) or '',
  'refused', refused, 'probe_at', fmt(probe_at), 'probing', fmt(probing))
if last then redis.call('HSET', state, 'last', fmt(last)) end
if first_sent then redis.call('HSET', state, 'first_sent', fmt(first_sent)) end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end  -- a missing key: no-op
return result
"""

# acquire: ARGV[6] the longest this request may wait ('' for no bound). While the
# account's breaker is open, only the probe (one per interval) reserves a slot.
_ACQUIRE: Final = r"""
local max_wait = tonumber(ARGV[6])
if refused ~= '' and now < probe_at then
  if probing > 0 and now - probing < @PROBE_INTERVAL@ then
    -- A probe is out: its answer decides for this call too (a re-run after a
    -- top-up must not fail the calls that arrive beside its probe).
    result = reply(3, fmt(@PROBE_POLL@))
  else
    result = reply(2, '0')
  end
else
  if refused ~= '' then
    probe_at = now + @PROBE_INTERVAL@
    probing = now
  end
  interval = 0  -- at the rate the successes above left
  if rate > 0 then interval = 1 / rate end
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
    result = reply(0, '0')
  else
    if wait > 0 then held = 1 end
    last = slot
    -- When it leaves: at its slot, or now for a slot barely missed (as the local gate).
    local leaves = math.max(slot, now)
    if not first_sent then first_sent = leaves end
    redis.call('LPUSH', sent, fmt(leaves))
    redis.call('LTRIM', sent, 0, @MIN_SAMPLES@ - 1)
    result = reply(1, fmt(wait))
  end
end
"""

# limited: a request sent in generation ARGV[6] was refused for its rate; ARGV[7]
# the answer's Retry-After in seconds (0: none), a floor of the cooldown.
_LIMITED: Final = r"""
local refused_in = tonumber(ARGV[6])
local hint = tonumber(ARGV[7]) or 0
if hint > 0 and closed < now + math.min(hint, @MAX_COOLDOWN@) then
  closed = now + math.min(hint, @MAX_COOLDOWN@)
  closed_for = math.min(hint, @MAX_COOLDOWN@)
end
if refused_in ~= generation then
  result = reply(0, '0')  -- old news
else
  generation = generation + 1
  local sending = rate
  if sending == 0 then sending = math.huge end
  sending = math.min(sending, send_rate())
  if sending == math.huge then
    local elapsed = now - (first_sent or now)
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
  if closed < now + cooldown then
    closed = now + cooldown
    closed_for = cooldown
  end
  result = reply(1, '0')
end
"""

# account: the account answered that it cannot clone (a dead key, no balance);
# ARGV[6] the refusal, as `_breaker` records it. Opens the breaker for every worker
# of the account, or keeps it open after a failed probe.
_ACCOUNT: Final = r"""
refused = ARGV[6]
probe_at = now + @PROBE_INTERVAL@
probing = 0
result = reply(1, '0')
"""

# report: only the successes counted since the last call (the preamble does it):
# sent when a probe succeeded, so the account's breaker closes for everyone now.
_REPORT: Final = r"""
result = reply(1, '0')
"""

# leave: this worker's client closed; its limit and its share stop counting now.
_LEAVE: Final = r"""
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
"""


def _render(source: str) -> str:
    source = source.replace("@FIELDS@", ", ".join(f"'{f}'" for f in _FIELDS))
    source = source.replace("@NOW_FIELD@", str(NOW_FIELD))
    source = source.replace("@PROBE_INTERVAL@", repr(PROBE_INTERVAL))
    source = source.replace("@PROBE_POLL@", repr(PROBE_POLL))
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


#: The scripts, with the local gate's constants in place.
ACQUIRE: Final = _render(_PREAMBLE + _ACQUIRE + _EPILOGUE)
LIMITED: Final = _render(_PREAMBLE + _LIMITED + _EPILOGUE)
ACCOUNT: Final = _render(_PREAMBLE + _ACCOUNT + _EPILOGUE)
REPORT: Final = _render(_PREAMBLE + _REPORT + _EPILOGUE)
LEAVE: Final = _LEAVE
