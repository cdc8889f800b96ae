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
 * The part every script shares is in ./redisLua.ts. Kept in step with
 * ledger.ts: the same rule in the same order, so one conformance suite runs
 * against both. The one thing not ported is `inFlightTaken` (maintained by
 * the ledger, read by nothing).
 *
 * @internal
 */
import { prelude } from "./redisLua.js"

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
