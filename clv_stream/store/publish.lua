-- clv-stream: record what a batch published, for every customer it emitted for.
--
-- ARGV: prefix, entries: a JSON array, flat, 4 values per customer
--       (customer_id, pub snapshot, segment labels, next due event time or -1 for never)
-- Writes per customer: HSET P:c:{id} pub .. sg ..; then one ZADD P:due and one ZREM P:due
-- (in chunks, so unpack stays within Lua's stack limit).

local prefix = ARGV[1]
local entries = cjson.decode(ARGV[2])
local CHUNK = 500
local due_key = prefix .. ':due'
local due, never = {}, {}

local function flush(cmd, args)
  if #args > 0 then redis.call(cmd, due_key, unpack(args)) end
end

for i = 1, #entries, 4 do
  local cid, at = entries[i], entries[i + 3]
  redis.call('HSET', prefix .. ':c:' .. cid, 'pub', entries[i + 1], 'sg', entries[i + 2])
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
