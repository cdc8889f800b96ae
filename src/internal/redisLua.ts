/**
 * The Lua every admission script starts with (./redisScripts.ts): the pool's
 * state read and written as one hash, the bucket arithmetic of budget.ts, the
 * ledger's configure, reclaiming expired leases, and the view. It reads the
 * server's \`TIME\` once, into \`now\`.
 *
 * ARGV[1..8] of every script: the ledger options (window, scale, output
 * samples, minimum samples, percentile, headerless answers before a pool is
 * known) and the key lifetimes (lease TTL, idle expiry), in milliseconds.
 *
 * @internal
 */

/** @internal */
export const prelude = `
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
