-- tower-shield rate limiting: every check of one request, decided and applied as one step.
--
-- KEYS[i]: the counter of check i. ARGV[6i-5 .. 6i]: kind (1 token bucket, 2 fixed window,
-- 3 sliding window, 4 leaky bucket, 5 backoff), the rule's four numbers (0 when unused), the
-- cost. Time is Redis's own
-- (TIME), in microseconds. The arithmetic is src/rate_limit/algorithm.rs, line for line, in
-- integers that stay below 2^53 (exact in Lua's doubles) for any realistic quota.
--
-- Returns { now, then per check: allowed, limit, remaining, reset_after, retry_after (-1:
-- none), delay, expires_after }.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- floor(a / b) for integers, exact where a / b in doubles may round across an integer.
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local function gcra(iv, cap, a, now, cost)
  local tau = iv * cap
  local tat = math.max(a, now)
  local new_tat = tat + cost * iv
  local allowed = cost == 0 or new_tat - now <= tau
  local kept = allowed and new_tat or tat
  local retry = -1
  if not allowed and cost <= cap then retry = new_tat - tau - now end
  return allowed, { allowed and new_tat or a, 0, 0 },
    { cap, fdiv(math.max(tau - (kept - now), 0), iv), kept - now, retry, 0, kept - now }
end

local function fixed(w, limit, a, b, c, now, cost)
  now = math.max(now, a)
  local start = now - now % w
  local count = (a == start) and b or 0
  local total = count + cost
  local allowed = cost == 0 or total <= limit
  local kept = allowed and total or count
  local ends = start + w - now
  local retry = -1
  if not allowed and cost <= limit then retry = ends end
  local state = allowed and { start, total, 0 } or { a, b, c }
  local reset = (kept == 0) and 0 or ends
  return allowed, state, { limit, math.max(limit - kept, 0), reset, retry, 0, reset }
end

local function sliding_retry(w, limit, start, elapsed, prev, cur, cost)
  if prev > 0 and cur + cost <= limit then
    local slack = fdiv((limit - cur - cost) * w, prev)
    if slack > 0 then
      return start + math.max(math.max(w - slack, 0), elapsed)
    end
  end
  local e = 0
  if cur > 0 then e = math.max(w - fdiv((limit - cost) * w, cur), 0) end
  return start + w + e
end

local function sliding(w, limit, a, b, c, now, cost)
  now = math.max(now, a)
  local start = now - now % w
  local prev, cur = 0, 0
  if a == start then
    prev, cur = c, b
  elseif a + w == start then
    prev, cur = b, 0
  end
  local elapsed = now - start
  local carried = prev * (w - elapsed)
  local budget = limit * w
  local total = cur + cost
  local allowed = cost == 0 or carried + total * w <= budget
  local kept = allowed and total or cur
  local remaining = fdiv(math.max(budget - (carried + kept * w), 0), w)
  local full_at = now
  if kept > 0 then full_at = start + 2 * w elseif prev > 0 then full_at = start + w end
  local retry = -1
  if not allowed and cost <= limit then
    retry = sliding_retry(w, limit, start, elapsed, prev, cur, cost) - now
  end
  local state = allowed and { start, total, prev } or { a, b, c }
  local reset = math.max(full_at - now, 0)
  return allowed, state, { limit, remaining, reset, retry, 0, reset }
end

local function leaky(iv, max_wait, a, now, cost)
  local begin = math.max(a, now)
  local delay = (cost == 0) and 0 or (begin - now)
  local extra = math.max(cost - 1, 0) * iv
  local last = delay + extra
  local allowed = last <= max_wait
  local kept = allowed and (begin + cost * iv) or a
  local ahead = math.max(kept - now, 0)
  local remaining = 0
  if ahead <= max_wait then remaining = fdiv(max_wait - ahead, iv) + 1 end
  local retry = -1
  if not allowed and extra <= max_wait then retry = last - max_wait end
  return allowed, { allowed and kept or a, 0, 0 },
    { fdiv(max_wait, iv) + 1, remaining, ahead, retry, allowed and delay or 0, ahead }
end

local function backoff(free, base, maxd, w, a, b, c, now, cost)
  local stale = now >= c + w and now >= a
  local untl, count = a, b
  if stale then untl, count = 0, 0 end
  if cost == 0 then
    local allowed = now >= untl
    local retry = -1
    local remaining = 0
    if allowed then remaining = math.max(free - count, 0) else retry = untl - now end
    local exp = 0
    if not stale then exp = math.max(c + w, a) - now end
    return allowed, { a, b, c }, { free, remaining, exp, retry, 0, exp }
  end
  count = count + cost
  if count >= free then
    local n = count - free
    local d = maxd
    if n < 53 then d = math.min(base * 2 ^ n, maxd) end
    untl = math.max(untl, now + d)
  end
  local exp = math.max(now + w, untl) - now
  return true, { untl, count, now }, { free, math.max(free - count, 0), exp, -1, 0, exp }
end

-- The most units of a bucket's interval a capacity or a cost may be: 2^51 us (about 71 years)
-- worth, so that `now` plus two such spans stays below 2^53 (exact in doubles) and an expiry
-- fits PEXPIRE. The crate bounds what it passes in the same way (redis.rs, MAX_SPAN); bounded
-- again here, so that no caller can make the script store a rounded number, or write a state
-- whose PEXPIRE then fails and leaves a counter that never expires.
local function units(iv)
  return math.max(math.floor(2 ^ 51 / math.max(iv, 1)), 1)
end

local function decide(rule, s, cost)
  local kind, p1, p2 = rule[1], rule[2], rule[3]
  if kind == 1 then
    local most = units(p1)
    return gcra(p1, math.min(p2, most), s[1], now, math.min(cost, most))
  end
  if kind == 2 then return fixed(p1, p2, s[1], s[2], s[3], now, cost) end
  if kind == 3 then return sliding(p1, p2, s[1], s[2], s[3], now, cost) end
  if kind == 5 then return backoff(p1, p2, rule[4], rule[5], s[1], s[2], s[3], now, cost) end
  -- A queue's max wait bounded too: a state is then at most two spans ahead of now.
  return leaky(p1, math.min(p2, 2 ^ 51), s[1], now, math.min(cost, units(p1)))
end

local n = #KEYS
local rules, states, results, oks = {}, {}, {}, {}
local all = true
for i = 1, n do
  local base = (i - 1) * 6
  local rule = {}
  for j = 1, 6 do rule[j] = tonumber(ARGV[base + j]) end
  local raw = redis.call('HMGET', KEYS[i], 'a', 'b', 'c')
  local s = { tonumber(raw[1]) or 0, tonumber(raw[2]) or 0, tonumber(raw[3]) or 0 }
  local ok, state, status = decide(rule, s, rule[6])
  rules[i], states[i], results[i], oks[i] = rule, { s, state }, status, ok
  if not ok then all = false end
end

local out = { now }
for i = 1, n do
  local status = results[i]
  if all then
    local state = states[i][2]
    if rules[i][6] > 0 then
      if status[6] > 0 then
        redis.call('HSET', KEYS[i], 'a', state[1], 'b', state[2], 'c', state[3])
        -- The expiry is set with the state: the key lives until it is a fresh key again.
        redis.call('PEXPIRE', KEYS[i], fdiv(status[6] + 999, 1000))
      else
        redis.call('DEL', KEYS[i])
      end
    end
  elseif oks[i] then
    -- Nothing is spent: report the standing a read would.
    local _, _, read = decide(rules[i], states[i][1], 0)
    status = read
  end
  out[#out + 1] = oks[i] and 1 or 0
  for j = 1, 6 do out[#out + 1] = status[j] end
end
return out
