-- clv-stream: record what a batch published, for every customer it emitted for.
--
-- ARGV: prefix, entries: a JSON array, flat, 5 values per customer
--       (customer_id, pub snapshot, segment labels, next due event time or -1 for never,
--        home partition or -1 for none)
-- Writes per customer: HSET P:c:{id} pub .. sg ..; then per due index touched (P:due:{home},
-- or P:due for customers without a home) one ZADD and one ZREM (in chunks, so unpack stays
-- within Lua's stack limit).
--
-- A snapshot whose summary is the one the hash holds now (the usual case: the customer was
-- just published) is stored as "=|as_of|version", 40 bytes less a customer; apply_batch.lua
-- and read_customers.lua expand it, and apply_batch.lua writes it out whole before the
-- summary changes.

local prefix = ARGV[1]
local entries = cjson.decode(ARGV[2])
local CHUNK = 500
local DAY = 86400
local due, never = {}, {}  -- due index key -> ZADD arguments / ZREM members

local function index_of(home)
  if home < 0 then return prefix .. ':due' end
  return prefix .. ':due:' .. home
end

local function flush(cmd, key, args)
  if #args > 0 then redis.call(cmd, key, unpack(args)) end
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

for i = 1, #entries, 5 do
  local cid, at = entries[i], entries[i + 3]
  local key = prefix .. ':c:' .. cid
  redis.call('HSET', key, 'pub', compact(key, entries[i + 1]), 'sg', entries[i + 2])
  local index = index_of(entries[i + 4])
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
for index, args in pairs(due) do flush('ZADD', index, args) end
for index, args in pairs(never) do flush('ZREM', index, args) end
return #entries / 5
