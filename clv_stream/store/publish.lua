-- clv-stream: record what a batch published, for every customer it emitted for.
--
-- ARGV: prefix, entries: a JSON array, flat, 10 values per customer
--       (customer ref (customer_key in common.lua), pub snapshot, segment labels, next due
--       event time or -1 for never, its tenant, its subscription totals or false when they
--       are unchanged: "field=n;field=n;..." with field "YYYY-MM|name", a point of its
--       value history or false, how many points to keep, its value inputs for the
--       portfolio totals (pv below), "" when it counts in none, and its
--       segment transitions or false: lines "at\tcustomer_id\tdimension\tfrom\tto"),
--       topic, fence: a JSON object partition -> [generation, the batch's highest offset
--       (-1: none)] (check_fence in common.lua; {}: unfenced, e.g. a refit page), confirmed:
--       a JSON object partition -> the batch's highest offset, recorded as c:<p> (the
--       outputs of every record up to it are published); the fenced partitions' pending
--       looks (l:<p>, apply_batch.lua) are cleared
-- Writes per customer: HSET P:c:{id} pub .. sg ..; then per due index touched (P:due:{home}
-- of the home the hash holds now, or P:due for customers without one) one ZADD and one
-- ZREM (in chunks, so unpack stays within Lua's stack limit). The home is read here, not
-- taken from the caller, as it may have moved since the caller read the customer.
--
-- Subscription totals: a customer's hash keeps in mc what it adds to its tenant's totals
-- (P:{0}:subs:{tenant}, a hash "YYYY-MM|name" -> integer; P:{0}:subs, a set, names the
-- tenants that have totals); new totals replace the old ones
-- by adding the difference, field by field, so the tenant's totals stay the sum over its
-- customers whatever order their events came in, and a replayed publication changes nothing.
--
-- Portfolio: the customer's value, labels, cohort and channel, kept in pv (portfolio.lua
-- add_value: "orders|net|historic|total|cohort|bin|channel", as the worker read the
-- customer: domain/portfolio.py value_inputs), go into its tenant's totals by difference,
-- as above. Transitions are counted there too (tr:<dim>\t<from>\t<to>) and
-- the last TRANSITIONS of them are kept, newest first, in P:{0}:tf:{tenant}; both only when
-- the labels the hash holds differ from the new ones (a replayed publication adds nothing).
--
-- History: a customer's published values, newest first, in a list (history_key), cut
-- to the points to keep; a point equal to the newest (a replayed publication) is not added.
--
-- A snapshot whose summary is the one the hash holds now (the usual case: the customer was
-- just published) is stored compact (summary.lua says how, and who expands it).

local prefix = ARGV[1]
local entries = cjson.decode(ARGV[2])
local part_key = partition_key(prefix, ARGV[3] or '')
local fence = cjson.decode(ARGV[4] or '{}')
local refused = check_fence(part_key, fence)
if refused then return refused end
local CHUNK = 500
local due, never = {}, {}  -- due index key -> ZADD arguments / ZREM members

local function flush(cmd, key, args)
  if #args > 0 then redis.call(cmd, key, unpack(args)) end
end

local TRANSITIONS = 100
local feeds = {}  -- feed key -> its new lines, oldest first (pushed once, at the end)

local function compact(key, pub)
  -- the snapshot to store, the due index of the customer's home, and the hash's fields
  local v = stored_summary(redis.call('HMGET', key, 'n', 'r', 'pr', 'f', 'l', 'nd', 'k', 'sg', 'pv'))
  local index = due_index(prefix, tonumber(v[7]))
  local now = summary_text(tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0,
    tonumber(v[4]) or 0, tonumber(v[5]) or 0, tonumber(v[6]) or 0, stored_first_day_net(key, v[4]))
  return compact_snapshot(pub, now), index, v  -- summary.lua
end

local function portfolio(key, tenant, v, pv, sg, moves)
  -- the customer's value into its tenant's totals; returns its new pv when it changed
  local old_sg = v[8] or ''
  local totals = portfolio_key(prefix, tenant)
  local changed = nil
  if pv ~= (v[9] or '') or sg ~= old_sg then
    add_value(totals, v[9], old_sg, -1)  -- portfolio.lua
    add_value(totals, pv, sg, 1)
    if pv ~= (v[9] or '') then changed = pv end
  end
  if moves and sg ~= old_sg then
    local feed = group_prefix(prefix) .. ':tf:' .. tenant
    local lines = feeds[feed] or {}
    feeds[feed] = lines
    for line in string.gmatch(moves, '[^\n]+') do
      add_total(totals, 'tr', 1, string.match(line, '^[^\t]*\t[^\t]*\t(.*)$'))
      lines[#lines + 1] = line
    end
  end
  return changed
end

local function parse_totals(text)
  local found = {}
  for field, n in string.gmatch(text or '', '([^;=]+)=([^;]+)') do found[field] = tonumber(n) end
  return found
end

local function replace_totals(key, tenant, text)
  local old = parse_totals(redis.call('HGET', key, 'mc'))
  local new = parse_totals(text)
  redis.call('SADD', group_prefix(prefix) .. ':subs', tenant)  -- tenants with totals
  local totals = group_prefix(prefix) .. ':subs:' .. tenant
  for field, n in pairs(old) do add_total(totals, field, -n) end
  for field, n in pairs(new) do add_total(totals, field, n) end
  if text == '' then redis.call('HDEL', key, 'mc') else redis.call('HSET', key, 'mc', text) end
end

for i = 1, #entries, 10 do
  local cid, at = entries[i], entries[i + 3]
  local key = customer_key(prefix, cid)
  local pub, index, v = compact(key, entries[i + 1])
  -- value inputs not given are unchanged: a new segment cell still moves them
  local pv = portfolio(key, entries[i + 4], v, entries[i + 8] or v[9] or '', entries[i + 2], entries[i + 9])
  if pv and pv ~= '' then redis.call('HSET', key, 'pub', pub, 'sg', entries[i + 2], 'pv', pv)
  else
    redis.call('HSET', key, 'pub', pub, 'sg', entries[i + 2])
    if pv == '' then redis.call('HDEL', key, 'pv') end
  end
  if entries[i + 5] then replace_totals(key, entries[i + 4], entries[i + 5]) end
  local point = entries[i + 6]
  if point then
    local hkey = history_key(prefix, cid)
    if redis.call('LINDEX', hkey, 0) ~= point then
      redis.call('LPUSH', hkey, point)
      redis.call('LTRIM', hkey, 0, entries[i + 7] - 1)
    end
  end
  if at < 0 then
    local args = never[index] or {}
    never[index] = args
    args[#args + 1] = cid
    if #args >= CHUNK then flush('ZREM', index, args); never[index] = {} end
  else
    local args = due[index] or {}
    due[index] = args
    args[#args + 1] = at
    args[#args + 1] = cid
    if #args >= 2 * CHUNK then flush('ZADD', index, args); due[index] = {} end
  end
end
for feed, lines in pairs(feeds) do  -- the newest TRANSITIONS lines, the newest at the head
  if #lines > 0 then
    redis.call('LPUSH', feed, unpack(lines, math.max(1, #lines - TRANSITIONS + 1), #lines))
    redis.call('LTRIM', feed, 0, TRANSITIONS - 1)
  end
end
flush_totals()  -- common.lua
for index, args in pairs(due) do flush('ZADD', index, args) end
for index, args in pairs(never) do flush('ZREM', index, args) end
local looked = {}
for p, _ in pairs(fence) do looked[#looked + 1] = 'l:' .. p end
if #looked > 0 then redis.call('HDEL', part_key, unpack(looked)) end
for p, offset in pairs(cjson.decode(ARGV[5] or '{}')) do
  local was = tonumber(redis.call('HGET', part_key, 'c:' .. p) or '-1')
  if offset > was then redis.call('HSET', part_key, 'c:' .. p, string.format('%d', offset)) end
end
return #entries / 10
