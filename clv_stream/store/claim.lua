-- clv-stream: a worker takes (or takes back) partitions of the orders topic.
--
-- ARGV: prefix, topic, claims: a JSON array of [partition, generation] pairs (generation 0:
--       a new assignment; else the generation this worker held, taken back after Redis went
--       back in time), now (epoch seconds, wall clock)
-- Per partition, a new assignment gets the stored generation + 1, so the previous owner's
-- later writes are refused (check_fence); a claim may carry a third value, a floor (the
-- cluster store: the highest generation any slot group holds), and then gets
-- max(stored, floor) + 1. Taking back restores the caller's generation
-- unless a newer owner has claimed the partition since (then -1: fenced).
-- Returns: {marker (1: this Redis held clv-stream state before this call, 0: it did not),
--           then per partition: partition, generation (-1: fenced), applied, confirmed
--           (offsets -1 when none is stored), the as_of and the model version of the last
--           batch applied (0 and "" when none), the as_of of a look at due customers whose
--           outputs were not published (0: none)}
-- The marker key P:created tells a new Redis (or one that lost everything) from one that
-- only never saw a partition. Offsets of the layout before the partition hash (P:off:{topic})
-- are carried over once, as applied and confirmed.

local prefix, topic = ARGV[1], ARGV[2]
local claims = cjson.decode(ARGV[3])
local key = partition_key(prefix, topic)
local legacy = prefix .. ':off:' .. topic
local marker = redis.call('SET', prefix .. ':created', ARGV[4], 'NX') and 0 or 1
local out = {marker}
for _, claim in ipairs(claims) do
  local p, mine, floor = claim[1], claim[2], claim[3] or 0
  local v = redis.call('HMGET', key, 'g:' .. p, 'a:' .. p, 'c:' .. p, 'k:' .. p, 'v:' .. p, 'l:' .. p)
  local gen, applied, confirmed = tonumber(v[1]) or 0, v[2], v[3]
  if applied == false then
    local old = redis.call('HGET', legacy, p)
    if old then
      applied, confirmed = old, old
      redis.call('HSET', key, 'a:' .. p, old, 'c:' .. p, old)
    end
  end
  local new = math.max(gen, floor) + 1
  if mine > 0 then
    new = mine
    if gen > mine then new = -1 end
  end
  if new > 0 then redis.call('HSET', key, 'g:' .. p, string.format('%d', new)) end
  out[#out + 1] = p
  out[#out + 1] = new
  out[#out + 1] = tonumber(applied) or -1
  out[#out + 1] = tonumber(confirmed) or -1
  out[#out + 1] = tonumber(v[4]) or 0
  out[#out + 1] = v[5] or ''
  out[#out + 1] = tonumber(v[6]) or 0
end
return out
