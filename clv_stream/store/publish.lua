-- clv-stream: record what a batch published, for every customer it emitted for.
--
-- ARGV: prefix, entries: a JSON array, flat, 4 values per customer
--       (customer_id, pub snapshot, segment labels, next due event time or -1 for never)
-- Writes per customer: HSET P:c:{id} pub .. sg ..; then one ZADD P:due and one ZREM P:due
-- (in chunks, so unpack stays within Lua's stack limit).
--
-- A snapshot whose summary is the one the hash holds now (the usual case: the customer was
-- just published) is stored as "=|as_of|version", 40 bytes less a customer; apply_batch.lua
-- and read_customers.lua expand it, and apply_batch.lua writes it out whole before the
-- summary changes.

local prefix = ARGV[1]
local entries = cjson.decode(ARGV[2])
local CHUNK = 500
local DAY = 86400
local due_key = prefix .. ':due'
local due, never = {}, {}

local function flush(cmd, args)
  if #args > 0 then redis.call(cmd, due_key, unpack(args)) end
end

local function compact(key, pub)
  local v = redis.call('HMGET', key, 'n', 'r', 'pr', 'f', 'l', 'nd')
  local first_day_net = '0'
  if v[4] then
    local raw = redis.call('HGET', key, 'd:' .. math.floor(tonumber(v[4]) / DAY))
    if raw then first_day_net = string.match(raw, '|(.*)$') end
  end
  local now = (v[1] or '0') .. '|' .. (v[2] or '0') .. '|' .. (v[3] or '0') .. '|' .. (v[4] or '0') ..
    '|' .. (v[5] or '0') .. '|' .. (v[6] or '0') .. '|' .. first_day_net .. '|'
  if string.sub(pub, 1, #now) == now then return '=|' .. string.sub(pub, #now + 1) end
  return pub
end

for i = 1, #entries, 4 do
  local cid, at = entries[i], entries[i + 3]
  local key = prefix .. ':c:' .. cid
  redis.call('HSET', key, 'pub', compact(key, entries[i + 1]), 'sg', entries[i + 2])
  if at < 0 then
    never[#never + 1] = cid
    if #never >= CHUNK then flush('ZREM', never); never = {} end
  else
    due[#due + 1] = at
    due[#due + 1] = cid
    if #due >= 2 * CHUNK then flush('ZADD', due); due = {} end
  end
end
flush('ZADD', due)
flush('ZREM', never)
return #entries / 4
