-- clv-stream: apply one batch of validated order events, atomically.
--
-- The rules are those of clv_stream/domain/aggregate.py (a property test keeps them equal).
-- Idempotency has two layers, both inside this one atomic call:
--   1. Kafka position: per partition of the orders topic, the highest offset applied is kept
--      in a hash; a record at or below it is a redelivery and is skipped.
--   2. event_id: SET NX PX <dedupe window> on a key scoped to (tenant, customer, event_id);
--      a second event with the same id for the same customer is skipped.
-- Before any write, the fence (common.lua: check_fence) refuses a worker that no longer owns
-- a partition of the batch, and notices a Redis that went back in time.
-- Order state itself is idempotent for placed (set once) and cancelled (a flag).
--
-- Speed: each touched customer's hash is read once (HMGET), its orders and purchase days
-- are read on first touch (HGET; not at all for a customer whose hash does not exist yet)
-- and kept in Lua tables, and everything a batch changed is written back with one HSET per
-- customer. A new customer's order costs four calls (SET NX, HMGET, EXISTS, HSET) instead
-- of about a dozen. Redis' Lua allocates slowly: tables are built whole, buffers reused.
--
-- Customers per tenant: a batch that creates customers' hashes adds them to P:{0}:tenants
-- (tenant -> count), in this same call, so the count goes back in time with the state.
--
-- Home partition and due times: a customer's "home" (hash field k) is the orders partition
-- its correctly keyed records arrive on; P:due:{home} holds when it is next due for a
-- time-driven look (publish.lua writes it), P:due those without a home. The consume lane
-- that owns a partition is the only one touching its customers, so after applying the batch
-- this script also hands that lane the customers of its partitions that are due by the new
-- event time (up to due_limit; due_look.lua): time decay rides on the lane's own batches.
--
-- ARGV: prefix, topic, dedupe_window_ms, records: a JSON array, flat, 10 values per record
--       (partition, offset, event_id, kind, order_id, customer_id, amount_minor, ts, margin_bp,
--       tenant; a subscription event has an upper-case kind and, for order_id, its line for
--       the customer's set of subscription events: "\n" event_id "\t" ...),
--       home ("1": every record is keyed by its customer_id, so an applied record's
--       partition is its customer's home), due_limit, shards: a JSON array of the lane's
--       partitions (-1: the index of customers without a home), fence: a JSON object
--       partition -> [generation, highest offset the caller knows applied] ({}: unfenced),
--       positions: a JSON object partition -> the batch's highest offset (dead-lettered
--       records included: all of them are done with once the batch is), as_of: the event
--       time to score and look for due customers at (0: the stream clock after the batch;
--       a replay passes the one of the batch it replays), model_version: what the caller
--       scores with, default_tenant: CLV_DEFAULT_TENANT (whose customers keep the keys
--       of the layout before tenants; common.lua: customer_key). Per partition of the batch, a:<p>, k:<p> (as_of) and v:<p> (the model
--       version) are stored, so a batch applied but never confirmed can be replayed alike;
--       per shard whose due index gave customers, l:<p> (as_of) until they are published.
-- Returns: {clock, applied, duplicates, redelivered, touched (count of customer rows that
--           follow for the records; the due customers' rows come after them), looked (due
--           index entries looked at: re-scored, handed to their home, or dropped),
--           then per customer: its ref (common.lua: customer_key), orders, net, profit, first_ts, last_ts,
--           purchase_days, first_day_net (integers), pub, segments, home (-1: none),
--           subscription events (common.lua: customer_row)}

local prefix, topic = ARGV[1], ARGV[2]
local window_ms = ARGV[3]
local recs = cjson.decode(ARGV[4])
local home = ARGV[5] == '1'
local due_limit = tonumber(ARGV[6] or '0')
local shards = cjson.decode(ARGV[7] or '[]')
local fence = cjson.decode(ARGV[8] or '{}')
local positions = cjson.decode(ARGV[9] or '{}')
local as_of = tonumber(ARGV[10] or '0')
local model_version = ARGV[11] or ''
local default_tenant = ARGV[12] or 'default'
local FIELDS = 11
local part_key = partition_key(prefix, topic)
local refused = check_fence(part_key, fence)
if refused then return refused end
local DAY = 86400

local function fmt(x) return string.format('%d', x) end

local function parse_order(raw, base)
  -- "placed|ts|margin_bp|refunded|cancelled", or just "placed|ts" for an order with the
  -- default margin, no refund and no cancel (most orders: 10 bytes less each); placed is ""
  -- until order_placed arrives; either followed by "|#channel" when the order's channel is
  -- not `base`, the customer's stored ch ('' without one; keep_channels keeps this true)
  if not raw then return {placed = nil, ts = 0, mbp = 10000, refunded = 0, cancelled = 0, ch = '', dirty = false} end
  local ch = base
  local at = string.find(raw, '|#', 1, true)  -- numbers never hold '#'; a channel may hold '|'
  if at then ch, raw = string.sub(raw, at + 2), string.sub(raw, 1, at - 1) end
  local placed, ts, mbp, refunded, cancelled = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if not placed then
    placed, ts = string.match(raw, '^([^|]*)|([^|]*)$')
    mbp, refunded, cancelled = 10000, 0, 0
  end
  return {placed = tonumber(placed), ts = tonumber(ts), mbp = tonumber(mbp),
          refunded = tonumber(refunded), cancelled = tonumber(cancelled), ch = ch, dirty = false}
end

local function encode_order(o, base)
  -- money with %d (exact to 2^53); ts, margin and the flag are small enough for tostring
  local ch = o.ch ~= base and '|#' .. o.ch or ''
  if o.placed and o.mbp == 10000 and o.refunded == 0 and o.cancelled == 0 then
    return fmt(o.placed) .. '|' .. o.ts .. ch
  end
  return (o.placed and fmt(o.placed) or '') .. '|' .. o.ts .. '|' .. o.mbp .. '|' ..
    fmt(o.refunded) .. '|' .. o.cancelled .. ch
end

local function net_of(o)
  if o.placed == nil or o.cancelled == 1 then return false, 0 end
  local net = o.placed - o.refunded
  if net < 0 then net = 0 end
  return true, net
end

local function profit_of(net, mbp) return math.floor((net * mbp + 5000) / 10000) end

-- Customer cache. Redis' Lua allocates slowly, so each customer is one table built with
-- every field it will hold, "w*" flags mark summary fields to write back, and its orders
-- and days live in two small maps.
local customers, touched = {}, {}
local created = {}  -- tenant -> customers whose hash this batch created
local buf = {}  -- argument buffer of HSET/HDEL, reused: unpack(buf, 1, n)

local function order_of(c, order_id)
  local o = c.orders[order_id]
  if o == nil then
    o = parse_order(not c.fresh and redis.call('HGET', c.key, 'o:' .. order_id), c.ch0 or '')
    c.orders[order_id] = o
  end
  return o
end

local function parse_day(raw)
  -- "count|net" of one UTC day, or a day without counting orders
  if raw then
    local n, net = string.match(raw, '^([^|]*)|([^|]*)$')
    return {count = tonumber(n), net = tonumber(net), present = true, dirty = false}
  end
  return {count = 0, net = 0, present = false, dirty = false}
end

local function day_of(c, day)
  local d = c.days[day]
  if d == nil then
    d = parse_day(not c.fresh and redis.call('HGET', c.key, 'd:' .. day) or nil)
    c.days[day] = d
  end
  return d
end

local function first_day_net(c)
  if not c.f then return 0 end
  local d = day_of(c, math.floor(c.f / DAY))
  return d.present and d.net or 0
end

local function summary_of(c)
  return summary_text(c.n, c.r, c.pr, c.f or 0, c.l or 0, c.nd, first_day_net(c))  -- summary.lua
end

local function upgrade_orders(key, ch)
  -- a hash of the first layout with the totals (its months text in 'mo'): an order without
  -- "|#channel" had no channel, where now it has the customer's; rewritten once, mo dropped
  local all, rewritten = redis.call('HGETALL', key), {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'o:' then
      local raw = encode_order(parse_order(all[i + 1], ''), ch)
      if raw ~= all[i + 1] then rewritten[#rewritten + 1] = all[i]; rewritten[#rewritten + 1] = raw end
    end
  end
  for i = 1, #rewritten, 1000 do  -- unpack() stays within Lua's stack limit
    redis.call('HSET', key, unpack(rewritten, i, math.min(i + 999, #rewritten)))
  end
  redis.call('HDEL', key, 'mo')
end

local function customer(cid, tenant, order_id, day)
  -- first touch in this batch: one HMGET reads the summary and, with it, the order and the
  -- purchase day of the event that touches it (most customers get one event a batch)
  local c = customers[cid]
  if c then return c end
  local key = customer_key(prefix, cid)
  local v = redis.call('HMGET', key, 'n', 'r', 'pr', 'f', 'l', 'nd', 'pub', 'sg',
                       'o:' .. order_id, 'd:' .. day, 'k', 'sb', 'ch', 'mo')
  if v[14] then
    upgrade_orders(key, v[13] or '')
    v[9] = redis.call('HGET', key, 'o:' .. order_id)
  end
  -- a customer with none of these fields may still have other order fields (a refund that
  -- came before its order): only one whose hash does not exist is known to have nothing
  local fresh = not (v[1] or v[6] or v[7] or v[9] or v[10] or v[12])
    and redis.call('EXISTS', key) == 0
  local has_pr, has_l = v[3] ~= false, v[5] ~= false
  stored_summary(v)  -- common.lua
  c = {id = cid, tenant = tenant, key = key, n = tonumber(v[1]) or 0, r = tonumber(v[2]) or 0, pr = tonumber(v[3]) or 0,
       f = tonumber(v[4]), l = tonumber(v[5]), nd = tonumber(v[6]) or 0, pub = v[7] or '', sg = v[8] or '',
       k = tonumber(v[11]), k0 = tonumber(v[11]), sb = v[12] or '', wsb = false,
       ch = v[13] or '', ch0 = v[13], opened = false, changes = nil, has_pr = has_pr, has_l = has_l,
       wn = false, wr = false, wf = false, wl = false, wnd = false, pubc = false, fresh = fresh,
       orders = {[order_id] = parse_order(v[9], v[13] or '')}, days = {[day] = parse_day(v[10])}}
  customers[cid] = c
  touched[#touched + 1] = cid
  if is_compact(c.pub) then
    -- published the summary the hash holds (summary.lua): expand it now, and write it out
    -- whole if this batch changes the summary
    c.pub, c.pubc = expand_snapshot(c.pub, summary_of(c)), true
  end
  return c
end

local function put(n, field, value)
  buf[n + 1], buf[n + 2] = field, value
  return n + 2
end

local CHUNK = 1000  -- values per HSET/HDEL call: unpack() must stay within Lua's stack limit

local function call_chunked(cmd, key, n)
  -- buf[1..n] holds field/value pairs (HSET) or fields (HDEL); CHUNK is even, pairs stay whole
  for i = 1, n, CHUNK do
    redis.call(cmd, key, unpack(buf, i, math.min(i + CHUNK - 1, n)))
  end
end

local function move_due(c)
  -- the customer's home changed (its first keyed record, or the orders topic was
  -- repartitioned): its next due time moves to the new home's index
  if not c.fresh then
    local old = due_index(prefix, c.k0)
    local at = redis.call('ZSCORE', old, c.id)
    if at then
      redis.call('ZREM', old, c.id)
      redis.call('ZADD', due_index(prefix, c.k), at, c.id)
    end
  end
  c.k0 = c.k
end

-- A customer's activity (portfolio.lua) is in its tenant's totals once its hash has the
-- field ch (its acquisition channel, '' when its orders named none): a customer stored
-- before the totals were kept has counting orders and no ch, and adds nothing until its
-- orders next change. The usual change (orders added in the customer's last active month or
-- after it, refunds; the same cohort and channel) is added field by field from the orders it
-- changed and the customer's first and last order times ("tail" mode); any other change
-- (an earlier order delivered late, a cancel, a new first order's channel) takes the
-- customer's whole activity out and adds it again, from all its orders ("whole" mode).

local function open_activity(c)
  -- before the first change of the batch to a customer's orders: what the totals hold
  if c.opened then return end
  c.opened, c.changes = true, {}
  c.n0, c.f0, c.l0, c.ch_old, c.rp_old = c.n, c.f, c.l, c.ch, c.nd >= 2
end

local function changed(c, ts, d_count, d_net, d_profit)
  local list = c.changes
  list[#list + 1] = {month_of(ts), d_count, d_net, d_profit}
end

local function months_of_orders(c, all, current)
  -- months (m -> {count, net, profit}) and acquisition channel of the orders in `all`
  -- (HGETALL of the hash: as stored), or with the batch's orders over them (current)
  local months, first = {}, nil
  local function count(o)
    local counts, net = net_of(o)
    if not counts then return end
    local m = month_of(o.ts)
    local e = months[m]
    if not e then e = {0, 0, 0}; months[m] = e end
    e[1], e[2], e[3] = e[1] + 1, e[2] + net, e[3] + profit_of(net, o.mbp)
    if first == nil or o.ts < first.ts or
       (o.ts == first.ts and channel_name(o.ch) < channel_name(first.ch)) then first = o end
  end
  local stored = {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'o:' then
      local id = string.sub(all[i], 3)
      stored[id] = true
      count(current and c.orders[id] or parse_order(all[i + 1], c.ch0 or ''))
    end
  end
  if current then
    for id, o in pairs(c.orders) do if not stored[id] then count(o) end end
  end
  return months, first and first.ch or ''
end

local function tail_change(c, key, rp)
  -- tail mode: the difference to the totals from the changed orders alone; false when
  -- the change is not a usual one
  local first, x = month_of(c.f or 0), channel_name(c.ch)
  local last = nil
  if c.n0 > 0 then
    if not c.l0 or month_of(c.f0) ~= first or channel_name(c.ch_old) ~= x then return false end
    last = month_of(c.l0)
  end
  local later, seen = {}, {}
  for _, ch in ipairs(c.changes) do
    local m, d = ch[1], ch[2]
    if d < 0 or (d > 0 and last and m < last) then return false end
    if d > 0 and m ~= last and not seen[m] then seen[m] = true; later[#later + 1] = m end
  end
  if c.n <= 0 then return false end
  table.sort(later)
  if c.n0 <= 0 then
    add_total(key, 'n', 1); add_total(key, 'cn', 1, first); add_total2(key, 'xa', first, x, 1)
  end
  if rp ~= c.rp_old then add_total(key, 'rp', rp and 1 or -1) end
  local profit = 0
  for _, ch in ipairs(c.changes) do
    local m = ch[1]
    add_total(key, 'mo', ch[2], m); add_total(key, 'mr', ch[3], m); add_total(key, 'mp', ch[4], m)
    add_total2(key, 'cr', first, m - first, ch[3])
    profit = profit + ch[4]
  end
  local prev = last or ''
  for _, m in ipairs(later) do
    add_total2(key, 'g', prev, m, 1); add_total2(key, 'ca', first, m - first, 1)
    prev = m
  end
  add_total2(key, 'xp', first, x, profit)
  return true
end

local function keep_channels(c, n, all)
  -- the customer's stored ch changes: its orders stored without a channel had the old one
  -- (parse_order); write it out, or have flush write them again (after n values)
  local base = c.ch0 or ''
  all = all or (not c.fresh and redis.call('HGETALL', c.key)) or {}
  for i = 1, #all, 2 do
    local field, raw = all[i], all[i + 1]
    if string.sub(field, 1, 2) == 'o:' and not string.find(raw, '|#', 1, true) then
      local o = c.orders[string.sub(field, 3)]
      if o then o.dirty = true else n = put(n, field, raw .. '|#' .. base) end
    end
  end
  return n
end

local function contribute(c, n)
  -- the difference to the tenant's totals, and the customer's channel (put into the HSET
  -- of flush, after n values)
  local key, rp = portfolio_key(prefix, c.tenant), c.nd >= 2
  local all = nil
  if not ((c.ch0 or c.n0 <= 0) and tail_change(c, key, rp)) then
    all = redis.call('HGETALL', c.key)  -- as stored: what the totals hold
    if c.ch0 then
      local old, ch_old = months_of_orders(c, all, false)
      add_activity(key, old, ch_old, c.rp_old, -1)  -- portfolio.lua
    end
    local months
    months, c.ch = months_of_orders(c, all, true)
    add_activity(key, months, c.ch, rp, 1)
  end
  c.opened = false  -- a later change in this call opens it again, from what is written here
  if c.ch ~= c.ch0 then
    if c.ch ~= (c.ch0 or '') then n = keep_channels(c, n, all) end
    c.ch0 = c.ch
    n = put(n, 'ch', c.ch)
  end
  return n
end

local function flush(c)
  -- write back every changed field of the customer: one HSET (and an HDEL for empty days,
  -- pr and l)
  local n = 0
  if c.pubc and (c.wn or c.wr or c.wf or c.wl or c.wnd) then n = put(n, 'pub', c.pub); c.pubc = false end
  if c.wn then n = put(n, 'n', c.n) end
  local drop_pr, drop_l = false, false  -- pr and l are omitted while r and f hold them
  if c.wr then
    n = put(n, 'r', fmt(c.r))
    if c.pr ~= c.r then n = put(n, 'pr', fmt(c.pr)); c.has_pr = true
    else drop_pr, c.has_pr = c.has_pr, false end
  end
  if c.wf then n = put(n, 'f', c.f) end
  if c.wf or c.wl then
    if c.l ~= c.f then n = put(n, 'l', c.l); c.has_l = true
    else drop_l, c.has_l = c.has_l, false end
  end
  if c.wnd then n = put(n, 'nd', c.nd) end
  if c.wsb then n = put(n, 'sb', c.sb); c.wsb = false end
  if c.k ~= c.k0 then n = put(n, 'k', c.k); move_due(c) end
  if c.opened then n = contribute(c, n) end
  c.wn, c.wr, c.wf, c.wl, c.wnd = false, false, false, false, false
  for order_id, o in pairs(c.orders) do
    if o.dirty then n = put(n, 'o:' .. order_id, encode_order(o, c.ch0 or '')); o.dirty = false end
  end
  for day, d in pairs(c.days) do
    if d.dirty and d.count > 0 then n = put(n, 'd:' .. day, d.count .. '|' .. fmt(d.net)) end
  end
  if n > 0 then
    call_chunked('HSET', c.key, n)
    if c.fresh then  -- its hash is created now: one more customer of its tenant
      c.fresh = false
      created[c.tenant] = (created[c.tenant] or 0) + 1
    end
  end
  local gone = 0
  if drop_pr then gone = gone + 1; buf[gone] = 'pr' end
  if drop_l then gone = gone + 1; buf[gone] = 'l' end
  for day, d in pairs(c.days) do
    if d.dirty and d.count <= 0 then gone = gone + 1; buf[gone] = 'd:' .. day end
    d.dirty = false
  end
  if gone > 0 then call_chunked('HDEL', c.key, gone) end
end

local function rescan_bounds(c)
  -- the first or last counting order went away: recompute both from all orders
  flush(c)
  local all = redis.call('HGETALL', c.key)
  local first, last, ch = nil, nil, ''
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'o:' then
      local o = parse_order(all[i + 1], c.ch0 or '')
      if net_of(o) then
        if first == nil or o.ts < first or
           (o.ts == first and channel_name(o.ch) < channel_name(ch)) then first, ch = o.ts, o.ch end
        if last == nil or o.ts > last then last = o.ts end
      end
    end
  end
  c.f, c.l, c.ch = first, last, ch  -- the channel as flush's contribute found it
  open_activity(c)  -- from what flush wrote, with these bounds
  c.has_l = first ~= nil and last ~= first
  if first == nil then redis.call('HDEL', c.key, 'f', 'l')
  elseif c.has_l then redis.call('HSET', c.key, 'f', first, 'l', last)
  else redis.call('HSET', c.key, 'f', first); redis.call('HDEL', c.key, 'l') end
end

local function update_day(c, ts, d_count, d_net)
  local d = day_of(c, math.floor(ts / DAY))
  d.count, d.net, d.dirty = d.count + d_count, d.net + d_net, true
  if d.count <= 0 then
    if d.present then c.nd = c.nd - 1; c.wnd = true end
    d.present = false
  else
    if not d.present then c.nd = c.nd + 1; c.wnd = true end
    d.present = true
  end
end

local function apply(c, kind, order_id, amount, ets, embp, ech)
  local o = order_of(c, order_id)
  local counted, net0 = net_of(o)
  local profit0 = profit_of(net0, o.mbp)
  if kind == 'p' then
    if o.placed == nil then o.placed, o.ts, o.mbp, o.ch = amount, ets, embp, ech end
  elseif kind == 'r' then o.refunded = o.refunded + amount
  else o.cancelled = 1 end
  o.dirty = true
  local counts, net1 = net_of(o)
  if counts == counted and net1 == net0 then return end
  open_activity(c)
  local d_count = (counts and 1 or 0) - (counted and 1 or 0)
  local d_profit = profit_of(net1, o.mbp) - profit0
  update_day(c, o.ts, d_count, net1 - net0)
  changed(c, o.ts, d_count, net1 - net0, d_profit)
  if d_count ~= 0 then c.n = c.n + d_count; c.wn = true end
  c.r, c.pr, c.wr = c.r + net1 - net0, c.pr + d_profit, true
  if d_count > 0 then  -- the acquisition channel: of the first order (the least at a tie)
    if not c.f or o.ts < c.f then c.ch = o.ch
    elseif o.ts == c.f and channel_name(o.ch) < channel_name(c.ch) then c.ch = o.ch end
  end
  if d_count > 0 then
    if not c.f or o.ts < c.f then c.f = o.ts; c.wf = true end
    if not c.l or o.ts > c.l then c.l = o.ts; c.wl = true end
  elseif d_count < 0 and (c.f == o.ts or c.l == o.ts) then
    rescan_bounds(c)
  end
end

local stored, high = {}, {}  -- per partition: applied offset before the batch, and after

local function track(part)
  if stored[part] == nil then
    stored[part] = tonumber(redis.call('HGET', part_key, 'a:' .. part) or '-1')
    high[part] = stored[part]
  end
end
local clock = tonumber(redis.call('GET', prefix .. ':clock') or '0')
local applied, duplicates, redelivered = 0, 0, 0

local function spend(tenant, channel, month, amount, ts, event_id)
  -- marketing spend: per (channel, month) the event with the latest (ts, event_id) holds
  local key = group_prefix(prefix) .. ':sp:' .. tenant
  local field = month .. ':' .. channel
  local was = redis.call('HGET', key, field)
  if was then
    local wts, wid = string.match(was, '^(%-?%d+)|([^|]*)|')
    wts = tonumber(wts)
    if wts > ts or (wts == ts and wid >= event_id) then return end
  end
  redis.call('HSET', key, field, string.format('%d|%s|%d', ts, event_id, amount))
end

for base = 0, #recs - 1, FIELDS do
  local part, offset = recs[base + 1], recs[base + 2]
  local event_id, kind, order_id = recs[base + 3], recs[base + 4], recs[base + 5]
  local tenant = recs[base + 10]
  local c = kind ~= 'm' and customer(customer_ref(tenant, recs[base + 6], default_tenant),
                                     tenant, order_id, math.floor(recs[base + 8] / DAY))
  track(part)
  if offset <= stored[part] then
    redelivered = redelivered + 1
  elseif not redis.call('SET', dedupe_key(prefix, recs[base + 10], recs[base + 6], event_id),
                        '1', 'NX', 'PX', window_ms) then
    duplicates = duplicates + 1
  else
    local ts = recs[base + 8]
    if not c then  -- marketing spend (kind 'm'): order_id is the channel, margin the month
      spend(tenant, order_id, recs[base + 9], recs[base + 7], ts, event_id)
    elseif home then c.k = part end
    if not c then
    elseif string.byte(kind) < 97 then
      -- a subscription event (upper-case kind): its line joins the customer's set (sb),
      -- once, whatever the order; the worker derives the subscriptions from the set
      if not string.find(c.sb, '\n' .. event_id .. '\t', 1, true) then
        c.sb, c.wsb = c.sb .. order_id, true
      end
    else
      apply(c, kind, order_id, recs[base + 7], ts, recs[base + 9], recs[base + 11])
    end
    if ts > clock then clock = ts end
    applied = applied + 1
  end
  if offset > high[part] then high[part] = offset end
end

redis.call('SET', prefix .. ':clock', fmt(clock))
if as_of <= 0 then as_of = clock end
for p, offset in pairs(positions) do
  local part = tonumber(p)
  track(part)
  if offset > high[part] then high[part] = offset end
end
for part, offset in pairs(high) do
  if offset > stored[part] then
    redis.call('HSET', part_key, 'a:' .. part, fmt(offset), 'k:' .. part, fmt(as_of),
               'v:' .. part, model_version)
  end
end

local out = {as_of, applied, duplicates, redelivered, #touched, 0}
local k = 6  -- the due customers' rows follow the touched ones
for _, cid in ipairs(touched) do
  local c = customers[cid]
  flush(c)
  out[k + 1], out[k + 2], out[k + 3], out[k + 4], out[k + 5] = cid, c.n, c.r, c.pr, c.f or 0
  out[k + 6], out[k + 7], out[k + 8], out[k + 9], out[k + 10] = c.l or 0, c.nd, first_day_net(c), c.pub, c.sg
  out[k + 11], out[k + 12], out[k + 13] = c.k or -1, c.sb, c.ch
  k = k + 13
end

for tenant, n in pairs(created) do
  redis.call('HINCRBY', group_prefix(prefix) .. ':tenants', tenant, n)
end

out[6] = look_due(out, k, prefix, part_key, customers, shards, due_limit, as_of)  -- due_look.lua
flush_totals()  -- common.lua
return out
