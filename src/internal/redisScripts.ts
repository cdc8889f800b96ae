/**
 * The admission ledger's rules (./ledger.ts) as Lua scripts run atomically by
 * Redis, over one pool's keys:
 *
 * - `KEYS[1]` state (hash): `known`, `emb` (embargo until), `seq` (grants
 *   counted), `hl` (headerless successes), `ifo` (output tokens expected from
 *   leases in flight), `est` (learned output estimate), `epoch` (when the
 *   state was created: lease ids of an expired state never match a new one),
 *   and per bucket `<b>.c` capacity, `<b>.l` level, `<b>.a` at, `<b>.r` rate,
 *   `<b>.L` limit, for `b` in `r` requests, `i` input, `o` output, `t` tokens;
 * - `KEYS[2]` leases (sorted set): lease ids scored by expiry;
 * - `KEYS[3]` lease data (hash): id → JSON of what the lease took;
 * - `KEYS[4]` outputs (list) and `KEYS[5]` output sizes (sorted set): the
 *   last output sizes, for the estimate: the list is a ring of sample ids
 *   (RPUSH, LPOP the oldest), the sorted set scores them by size, so the
 *   percentile is one ZRANGE by rank.
 *
 * Time is the Redis server's `TIME`, in milliseconds with microseconds as the
 * fraction, so clocks of the processes sharing the budget do not matter.
 * Absolute times go out as server times; callers translate them. Every write
 * sets every key to expire after the idle time.
 *
 * Numbers travel as strings (`%.17g`, `inf`, `-inf`, `""` for none): Redis
 * truncates Lua numbers in replies to integers.
 *
 * Kept in step with ledger.ts: the same rule in the same order, so one
 * conformance suite runs against both. The one thing not ported is
 * `inFlightTaken` (maintained by the ledger, read by nothing).
 *
 * @internal
 */

/** ARGV[1..8]: the ledger options and the key lifetimes, common to every script. @internal */
export const commonArgs = 8

const prelude = `
if redis.replicate_commands ~= nil then pcall(redis.replicate_commands) end
local state_key, leases_key, data_key, outputs_key, sizes_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local INF = math.huge
local CODES = { "r", "i", "o", "t" }

local function num(s)
  if s == nil or s == false or s == "" then return nil end
  if s == "inf" then return INF end
  if s == "-inf" then return -INF end
  return tonumber(s)
end

local function fmt(x)
  if x == nil then return "" end
  if x == INF then return "inf" end
  if x == -INF then return "-inf" end
  if x ~= x then return "" end
  return string.format("%.17g", x)
end

local opt = {
  window = num(ARGV[1]),
  scale = num(ARGV[2]),
  samples = num(ARGV[3]),
  min_samples = num(ARGV[4]),
  percentile = num(ARGV[5]),
  headerless_after = num(ARGV[6]),
  lease_ttl = num(ARGV[7]),
  idle = num(ARGV[8])
}

local function touch()
  for _, key in ipairs(KEYS) do redis.call("PEXPIRE", key, math.floor(opt.idle)) end
end

local function load()
  local raw = redis.call("HGETALL", state_key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  local s = {
    exists = #raw > 0,
    known = h["known"] == "1",
    embargo = num(h["emb"]) or 0,
    seq = num(h["seq"]) or 0,
    headerless = num(h["hl"]) or 0,
    in_flight_output = num(h["ifo"]) or 0,
    estimate = num(h["est"]),
    output_seq = num(h["oseq"]) or 0,
    epoch = h["epoch"] or (time[1] .. "." .. time[2]),
    buckets = {},
    limits = {}
  }
  for k = 1, 4 do
    local c = CODES[k]
    local capacity = num(h[c .. ".c"])
    if capacity ~= nil then
      s.buckets[k] = { capacity = capacity, level = num(h[c .. ".l"]), at = num(h[c .. ".a"]), rate = num(h[c .. ".r"]) }
      s.limits[k] = num(h[c .. ".L"]) or capacity
    end
  end
  return s
end

local function save(s)
  local f = {
    "known", s.known and "1" or "0", "emb", fmt(s.embargo), "seq", fmt(s.seq), "hl", fmt(s.headerless),
    "ifo", fmt(s.in_flight_output), "epoch", s.epoch, "oseq", fmt(s.output_seq)
  }
  if s.estimate ~= nil then
    f[#f + 1] = "est"
    f[#f + 1] = fmt(s.estimate)
  end
  for k = 1, 4 do
    local b = s.buckets[k]
    if b ~= nil then
      local c = CODES[k]
      f[#f + 1] = c .. ".c"; f[#f + 1] = fmt(b.capacity)
      f[#f + 1] = c .. ".l"; f[#f + 1] = fmt(b.level)
      f[#f + 1] = c .. ".a"; f[#f + 1] = fmt(b.at)
      f[#f + 1] = c .. ".r"; f[#f + 1] = fmt(b.rate)
      f[#f + 1] = c .. ".L"; f[#f + 1] = fmt(s.limits[k])
    end
  end
  redis.call("HSET", state_key, unpack(f))
  touch()
end

-- budget.ts
local function level_at(b, t)
  return math.min(b.capacity, b.level + math.max(0, t - b.at) * b.rate)
end

local function advance(b, t)
  b.level = level_at(b, t)
  b.at = math.max(b.at, t)
end

local function millis_until(b, t, target)
  local level = level_at(b, t)
  if level >= target then return 0 end
  if b.rate <= 0 then return INF end
  return math.ceil((target - level) / b.rate)
end

local function target_level(b, amount, hold_back)
  return math.min(b.capacity, hold_back * b.capacity + amount)
end

local function make_bucket(capacity, level, t)
  return { capacity = capacity, level = math.min(capacity, level), at = t, rate = capacity / opt.window }
end

local function charged_buckets(s, cost)
  local out = {}
  for k = 1, 4 do
    if cost[k] ~= nil and s.buckets[k] ~= nil and not (k == 4 and (s.buckets[2] ~= nil or s.buckets[3] ~= nil)) then
      out[#out + 1] = k
    end
  end
  return out
end

-- ledger.ts
local function resize(b, capacity, t)
  advance(b, t)
  b.capacity = capacity
  b.rate = capacity / opt.window
  b.level = math.min(capacity, b.level)
end

local function configure(s, limits)
  for k = 1, 4 do
    local limit = limits[k]
    if limit ~= nil and limit > 0 then
      s.limits[k] = limit
      local capacity = limit * opt.scale
      local b = s.buckets[k]
      if b == nil then
        s.buckets[k] = make_bucket(capacity, capacity, now)
      else
        resize(b, capacity, now)
      end
      s.known = true
    end
  end
end

-- leases of crashed processes: their permit comes back, what they took stays taken
local function reclaim(s)
  local expired = redis.call("ZRANGEBYSCORE", leases_key, "-inf", fmt(now), "LIMIT", 0, 256)
  for _, id in ipairs(expired) do
    local data = redis.call("HGET", data_key, id)
    if data then
      local lease = cjson.decode(data)
      s.in_flight_output = s.in_flight_output - lease.output
    end
    redis.call("ZREM", leases_key, id)
    redis.call("HDEL", data_key, id)
  end
  return #expired
end

local function in_flight()
  return redis.call("ZCARD", leases_key)
end

local function view(s)
  local out = { fmt(now), s.known and "1" or "0", fmt(s.embargo), tostring(in_flight()) }
  for k = 1, 4 do
    local b = s.buckets[k]
    if b ~= nil then
      out[#out + 1] = fmt(b.capacity); out[#out + 1] = fmt(level_at(b, now)); out[#out + 1] = fmt(b.rate)
    else
      out[#out + 1] = ""; out[#out + 1] = ""; out[#out + 1] = ""
    end
  end
  return out
end

local function numbers(first)
  return { num(ARGV[first]), num(ARGV[first + 1]), num(ARGV[first + 2]), num(ARGV[first + 3]) }
end
`

/**
 * ARGV[9..12] limits per bucket (`""`: none).
 * Returns 1.
 *
 * @internal
 */
export const configure = `${prelude}
local s = load()
reclaim(s)
configure(s, numbers(9))
save(s)
return 1
`

/**
 * ARGV[9..12] cost per bucket, [13] hold-back, [14] most leases in flight,
 * [15..18] configured limits, applied when the pool has no state (Redis lost
 * it, or it expired); the pool then starts cold all the same: one request
 * goes first and its answer tells the levels.
 *
 * Returns `{"G", id, sequence, grantedAt, taken r, i, o, t, output}`,
 * `{"B", reason, waitMillis, ...view}` or `{"N", bucket index, cost, limit}`.
 *
 * @internal
 */
export const reserve = `${prelude}
local cost = numbers(9)
local hold_back = num(ARGV[13])
local max_in_flight = num(ARGV[14])
local s = load()
if not s.exists then
  -- the state was lost (a restart without persistence) or expired: the configured limits come back, but what the
  -- server's buckets hold now is unknown, so the pool starts cold and its first answer tells the levels
  configure(s, numbers(15))
  s.known = false
end
reclaim(s)

local function blocked(reason, wait)
  save(s)
  local out = { "B", reason, fmt(wait) }
  for _, v in ipairs(view(s)) do out[#out + 1] = v end
  return out
end

local function grant(charged)
  local taken = {}
  for _, k in ipairs(charged) do
    local b = s.buckets[k]
    advance(b, now)
    b.level = b.level - cost[k]
    taken[k] = cost[k]
  end
  local output = cost[3] or 0
  s.in_flight_output = s.in_flight_output + output
  s.seq = s.seq + 1
  local id = s.epoch .. "-" .. fmt(s.seq)
  redis.call("ZADD", leases_key, fmt(now + opt.lease_ttl), id)
  redis.call("HSET", data_key, id, cjson.encode({
    seq = s.seq, output = output, r = taken[1], i = taken[2], o = taken[3], t = taken[4]
  }))
  save(s)
  return { "G", id, fmt(s.seq), fmt(now), fmt(taken[1]), fmt(taken[2]), fmt(taken[3]), fmt(taken[4]), fmt(output) }
end

if now < s.embargo then return blocked("embargo", s.embargo - now) end
if not s.known then
  -- nothing is known about this pool's limits: one request goes, the rest wait for its headers
  if in_flight() == 0 then return grant({}) end
  return blocked("cold-start", INF)
end
local charged = charged_buckets(s, cost)
for _, k in ipairs(charged) do
  -- against the limit, not a scaled share of it
  local limit = s.limits[k] or s.buckets[k].capacity
  if cost[k] > limit then
    save(s)
    return { "N", tostring(k), fmt(cost[k]), fmt(limit) }
  end
end
if in_flight() >= math.max(1, max_in_flight) then return blocked("concurrency", INF) end
local wait = 0
local reason = nil
for _, k in ipairs(charged) do
  local b = s.buckets[k]
  local w = millis_until(b, now, target_level(b, cost[k], hold_back))
  if w > wait then
    wait = w
    reason = k
  end
end
if reason ~= nil then return blocked(tostring(reason), wait) end
return grant(charged)
`

/**
 * ARGV[9] lease id, [10] `"1"` when what the server charged is known,
 * [11..14] charged per bucket (`""`: keep what was taken), [15] output tokens
 * of the answer, for the estimate, [16] `"1"` when there is an observation,
 * [17] its embargo as a delay from now, [18] `"1"` when its headers include
 * the answer's own output, [19..30] per bucket: limit, low, high.
 *
 * Returns `{found, output estimate, ...view}`.
 *
 * @internal
 */
export const release = `${prelude}
local id = ARGV[9]
local charged_known = ARGV[10] == "1"
local charged = numbers(11)
local output_tokens = num(ARGV[15])
local observed = ARGV[16] == "1"
local s = load()
reclaim(s)
local data = redis.call("HGET", data_key, id)
if not data then
  -- reclaimed, expired or never granted here: nothing to give back
  if s.exists then save(s) end
  local out = { "0", fmt(s.estimate) }
  for _, v in ipairs(view(s)) do out[#out + 1] = v end
  return out
end
redis.call("ZREM", leases_key, id)
redis.call("HDEL", data_key, id)
local lease = cjson.decode(data)
s.in_flight_output = s.in_flight_output - lease.output

-- the ring (oldest first) names each sample; the sorted set orders them by size: O(log n) per answer
local function record_output(tokens)
  if tokens == nil or not (tokens >= 0) or tokens == INF then return end
  s.output_seq = s.output_seq + 1
  local member = fmt(s.output_seq)
  redis.call("RPUSH", outputs_key, member)
  redis.call("ZADD", sizes_key, tokens, member)
  while redis.call("LLEN", outputs_key) > math.max(1, opt.samples) do
    redis.call("ZREM", sizes_key, redis.call("LPOP", outputs_key))
  end
  local count = redis.call("ZCARD", sizes_key)
  if count >= opt.min_samples then
    local index = math.max(0, math.min(count - 1, math.ceil(opt.percentile * count) - 1))
    s.estimate = tonumber(redis.call("ZRANGE", sizes_key, index, index, "WITHSCORES")[2])
  end
end

-- lowering is always safe; a level is raised only when nothing else is in flight or was granted since this lease
local function observe(quiescent, own_output)
  local embargo_delay = num(ARGV[17])
  if embargo_delay ~= nil then s.embargo = math.max(s.embargo, now + embargo_delay) end
  local any = false
  for k = 1, 4 do
    local base = 19 + (k - 1) * 3
    local limit = num(ARGV[base])
    if limit ~= nil then
      any = true
      -- output is charged by the server as it is produced: what is still in flight is not in its levels yet
      local uncounted = 0
      if k == 3 or k == 4 then uncounted = s.in_flight_output + own_output end
      local capacity = limit * opt.scale
      local low = num(ARGV[base + 1]) * opt.scale - uncounted
      local high = num(ARGV[base + 2]) * opt.scale - uncounted
      s.limits[k] = limit
      local b = s.buckets[k]
      if b == nil then
        -- leases in flight took nothing from a bucket unknown when they were granted
        s.buckets[k] = make_bucket(capacity, low, now)
      else
        if b.capacity ~= capacity then resize(b, capacity, now) end
        advance(b, now)
        if b.level > high then
          b.level = low
        elseif quiescent and b.level < low then
          b.level = low
        end
      end
    end
  end
  if any then s.known = true end
end

if charged_known then
  for k = 1, 4 do
    local taken = lease[CODES[k]]
    local b = s.buckets[k]
    if taken ~= nil and charged[k] ~= nil and b ~= nil then
      -- the difference between what was taken and what the server charged is given back, or charged
      advance(b, now)
      b.level = math.min(b.capacity, b.level + taken - charged[k])
    end
  end
end
record_output(output_tokens)
local quiescent = in_flight() == 0 and lease.seq == s.seq
if observed then
  local own_output = 0
  if ARGV[18] ~= "1" and charged_known then own_output = charged[3] or 0 end
  observe(quiescent, own_output)
end
if not s.known and charged_known and observed then
  -- served without any rate-limit header (a proxy that strips them): after a few, stop probing one by one
  s.headerless = s.headerless + 1
  if s.headerless >= opt.headerless_after then s.known = true end
end
save(s)
local out = { "1", fmt(s.estimate) }
for _, v in ipairs(view(s)) do out[#out + 1] = v end
return out
`

/**
 * ARGV[9] lease id. Pushes the lease's expiry a lease TTL past now, unless it
 * is gone. Returns 1 when the lease was renewed, 0 when it is gone.
 *
 * @internal
 */
export const renew = `${prelude}
local s = load()
if not s.exists then return 0 end
if reclaim(s) > 0 then save(s) else touch() end
if redis.call("ZSCORE", leases_key, ARGV[9]) == false then return 0 end
redis.call("ZADD", leases_key, "XX", fmt(now + opt.lease_ttl), ARGV[9])
return 1
`

/**
 * Returns the view (and reclaims expired leases); a pool without state is
 * reported empty and not created.
 *
 * @internal
 */
export const view = `${prelude}
local s = load()
if s.exists then
  reclaim(s)
  save(s)
end
return view(s)
`
