
-- tower-shield hybrid store: leases of a quota. Appended to the decision functions of
-- redis.lua (everything before its `local n = #KEYS`), so the arithmetic is the same.
--
-- KEYS[i]: the counter of check i. ARGV[7i-6 .. 7i]: kind (1 token bucket, 2 fixed window,
-- 3 sliding window), the rule's four numbers (as redis.lua takes them), ask (units wanted),
-- need (the units without which the request is refused; 1 <= need <= ask).
--
-- All or nothing: when every counter has `need` units left, each grants min(ask, left) units
-- and spends them as one request of that cost would; otherwise nothing is spent.
--
-- Returns { now, then per check: granted, remaining (after), reset_after, retry_after (-1:
-- none; for `need` units, when refused), valid_for (-1: no end; else until the window ends) }.

local n = #KEYS
local rules, states, reads = {}, {}, {}
local all = true
for i = 1, n do
  local base = (i - 1) * 7
  local rule = {}
  for j = 1, 7 do rule[j] = tonumber(ARGV[base + j]) end
  local raw = redis.call('HMGET', KEYS[i], 'a', 'b', 'c')
  local s = { tonumber(raw[1]) or 0, tonumber(raw[2]) or 0, tonumber(raw[3]) or 0 }
  local _, _, read = decide(rule, s, 0)
  rules[i], states[i], reads[i] = rule, s, read
  if read[2] < rule[7] then all = false end
end

local out = { now }
for i = 1, n do
  local rule, s, read = rules[i], states[i], reads[i]
  local valid = -1
  if rule[1] == 2 or rule[1] == 3 then
    local at = math.max(now, s[1])
    valid = at - at % rule[2] + rule[2] - now
  end
  if all then
    local grant = math.min(rule[6], read[2])
    local _, state, status = decide(rule, s, grant)
    if status[6] > 0 then
      redis.call('HSET', KEYS[i], 'a', state[1], 'b', state[2], 'c', state[3])
      redis.call('PEXPIRE', KEYS[i], fdiv(status[6] + 999, 1000))
    else
      redis.call('DEL', KEYS[i])
    end
    out[#out + 1] = grant
    out[#out + 1] = status[2]
    out[#out + 1] = status[3]
    out[#out + 1] = -1
  else
    local retry = -1
    if read[2] < rule[7] then
      local _, _, refused = decide(rule, s, rule[7])
      retry = refused[4]
    end
    out[#out + 1] = 0
    out[#out + 1] = read[2]
    out[#out + 1] = read[3]
    out[#out + 1] = retry
  end
  out[#out + 1] = valid
end
return out
