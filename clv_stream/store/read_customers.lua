-- clv-stream: the current state of several customers, in one call.
--
-- ARGV: prefix, customer refs (customer_key in common.lua): a JSON array
-- Returns per known customer (one with a counting order, a publication or subscription
-- events), in the order
-- asked, the row of customer_row() (common.lua, put in front of this script when it is loaded): the
-- layout apply_batch.lua returns after its header.

local prefix = ARGV[1]
local ids = cjson.decode(ARGV[2])
local out, k = {}, 0
for _, cid in ipairs(ids) do
  local v = redis.call('HMGET', customer_key(prefix, cid), unpack(ROW_FIELDS))
  if row_known(v) then k = customer_row(out, k, prefix, cid, v) end
end
return out
