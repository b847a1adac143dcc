-- clv-stream: apply one batch of validated order events, atomically.
--
-- The rules are those of clv_stream/domain/aggregate.py (a property test keeps them equal).
-- Idempotency has two layers, both inside this one atomic call:
--   1. Kafka position: per partition of the orders topic, the highest offset applied is kept
--      in a hash; a record at or below it is a redelivery and is skipped.
--   2. event_id: SET NX PX <dedupe window>; a second event with the same id is skipped.
-- Order state itself is idempotent for placed (set once) and cancelled (a flag).
--
-- ARGV: prefix, topic, dedupe_window_ms, n_records,
--       then n_records x (partition, offset, event_id, kind, order_id, customer_id,
--                         amount_minor, ts, margin_bp)
-- Returns: {clock, applied, duplicates, redelivered,
--           then per touched customer: customer_id, orders, net, profit, first_ts, last_ts,
--           purchase_days, first_day_net, pub, segments}

local prefix, topic = ARGV[1], ARGV[2]
local window_ms = ARGV[3]
local n_records = tonumber(ARGV[4])
local FIELDS = 9
local DAY = 86400

local function fmt(x) return string.format('%d', x) end

local function parse_order(raw)
  -- "placed|ts|margin_bp|refunded|cancelled"; placed is "" until order_placed arrives
  if not raw then return nil, 0, 10000, 0, 0 end
  local placed, ts, mbp, refunded, cancelled = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return tonumber(placed), tonumber(ts), tonumber(mbp), tonumber(refunded), tonumber(cancelled)
end

local function net_of(placed, refunded, cancelled)
  if placed == nil or cancelled == 1 then return false, 0 end
  local net = placed - refunded
  if net < 0 then net = 0 end
  return true, net
end

local function profit_of(net, mbp) return math.floor((net * mbp + 5000) / 10000) end

local function rescan_bounds(ck)
  -- the first or last counting order went away: recompute both from the orders
  local all = redis.call('HGETALL', ck)
  local first, last = nil, nil
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'o:' then
      local placed, ts, _, refunded, cancelled = parse_order(all[i + 1])
      if net_of(placed, refunded, cancelled) then
        if first == nil or ts < first then first = ts end
        if last == nil or ts > last then last = ts end
      end
    end
  end
  if first == nil then redis.call('HDEL', ck, 'f', 'l')
  else redis.call('HSET', ck, 'f', fmt(first), 'l', fmt(last)) end
end

local function update_day(ck, ts, d_count, d_net)
  local dk = 'd:' .. fmt(math.floor(ts / DAY))
  local raw = redis.call('HGET', ck, dk)
  local count, net = 0, 0
  if raw then
    local c, n = string.match(raw, '^([^|]*)|([^|]*)$')
    count, net = tonumber(c), tonumber(n)
  end
  count, net = count + d_count, net + d_net
  if count <= 0 then
    redis.call('HDEL', ck, dk)
    if raw then redis.call('HINCRBY', ck, 'nd', -1) end
  else
    redis.call('HSET', ck, dk, fmt(count) .. '|' .. fmt(net))
    if not raw then redis.call('HINCRBY', ck, 'nd', 1) end
  end
end

local function apply(ck, kind, order_id, amount, ets, embp)
  local of = 'o:' .. order_id
  local placed, ts, mbp, refunded, cancelled = parse_order(redis.call('HGET', ck, of))
  local counted, net0 = net_of(placed, refunded, cancelled)
  local profit0 = profit_of(net0, mbp)
  if kind == 'p' then
    if placed == nil then placed, ts, mbp = amount, ets, embp end
  elseif kind == 'r' then refunded = refunded + amount
  else cancelled = 1 end
  redis.call('HSET', ck, of, (placed and fmt(placed) or '') .. '|' .. fmt(ts) .. '|' ..
    fmt(mbp) .. '|' .. fmt(refunded) .. '|' .. fmt(cancelled))
  local counts, net1 = net_of(placed, refunded, cancelled)
  if counts == counted and net1 == net0 then return end
  local d_count = (counts and 1 or 0) - (counted and 1 or 0)
  update_day(ck, ts, d_count, net1 - net0)
  if d_count ~= 0 then redis.call('HINCRBY', ck, 'n', d_count) end
  redis.call('HINCRBY', ck, 'r', net1 - net0)
  redis.call('HINCRBY', ck, 'pr', profit_of(net1, mbp) - profit0)
  if d_count > 0 then
    local f, l = unpack(redis.call('HMGET', ck, 'f', 'l'))
    if not f or ts < tonumber(f) then redis.call('HSET', ck, 'f', fmt(ts)) end
    if not l or ts > tonumber(l) then redis.call('HSET', ck, 'l', fmt(ts)) end
  elseif d_count < 0 then
    local f, l = unpack(redis.call('HMGET', ck, 'f', 'l'))
    if tonumber(f) == ts or tonumber(l) == ts then rescan_bounds(ck) end
  end
end

local off_key = prefix .. ':off:' .. topic
local stored, high = {}, {}
local clock = tonumber(redis.call('GET', prefix .. ':clock') or '0')
local applied, duplicates, redelivered = 0, 0, 0
local touched, order = {}, {}

for i = 0, n_records - 1 do
  local base = 4 + i * FIELDS
  local part, offset = ARGV[base + 1], tonumber(ARGV[base + 2])
  local event_id, kind, order_id, cid = ARGV[base + 3], ARGV[base + 4], ARGV[base + 5], ARGV[base + 6]
  if stored[part] == nil then
    stored[part] = tonumber(redis.call('HGET', off_key, part) or '-1')
    high[part] = stored[part]
  end
  if offset <= stored[part] then
    redelivered = redelivered + 1
  elseif not redis.call('SET', prefix .. ':e:' .. event_id, '1', 'NX', 'PX', window_ms) then
    duplicates = duplicates + 1
  else
    local ts = tonumber(ARGV[base + 8])
    apply(prefix .. ':c:' .. cid, kind, order_id, tonumber(ARGV[base + 7]), ts, tonumber(ARGV[base + 9]))
    if ts > clock then clock = ts end
    applied = applied + 1
  end
  if offset > high[part] then high[part] = offset end
  if not touched[cid] then touched[cid] = true; order[#order + 1] = cid end
end

for part, offset in pairs(high) do
  if offset > stored[part] then redis.call('HSET', off_key, part, fmt(offset)) end
end
redis.call('SET', prefix .. ':clock', fmt(clock))

local out = {fmt(clock), applied, duplicates, redelivered}
for _, cid in ipairs(order) do
  local ck = prefix .. ':c:' .. cid
  local v = redis.call('HMGET', ck, 'n', 'r', 'pr', 'f', 'l', 'nd', 'pub', 'sg')
  local first_day_net = '0'
  if v[4] then
    local raw = redis.call('HGET', ck, 'd:' .. fmt(math.floor(tonumber(v[4]) / DAY)))
    if raw then first_day_net = string.match(raw, '|(.*)$') end
  end
  out[#out + 1] = cid
  for j = 1, 6 do out[#out + 1] = v[j] or '0' end
  out[#out + 1] = first_day_net
  out[#out + 1] = v[7] or ''
  out[#out + 1] = v[8] or ''
end
return out
