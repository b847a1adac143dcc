-- clv-stream: the current state of several customers, in one call.
--
-- ARGV: prefix, customer ids: a JSON array
-- Returns per known customer (one with a counting order or a publication), in the order
-- asked: customer_id, orders, net, profit, first_ts, last_ts, purchase_days, first_day_net
-- (integers), pub, segments, home (-1: none): the layout apply_batch.lua returns after its
-- header.

local prefix = ARGV[1]
local ids = cjson.decode(ARGV[2])
local DAY = 86400
local out = {}
for _, cid in ipairs(ids) do
  local key = prefix .. ':c:' .. cid
  local v = redis.call('HMGET', key, 'n', 'r', 'pr', 'f', 'l', 'nd', 'pub', 'sg', 'k')
  if v[1] or v[7] then
    local first_day_net = 0
    if v[4] then
      local raw = redis.call('HGET', key, 'd:' .. math.floor(tonumber(v[4]) / DAY))
      if raw then first_day_net = tonumber(string.match(raw, '|(.*)$')) end
    end
    local pub = v[7] or ''
    if string.byte(pub, 1) == 61 then  -- "=|as_of|version": the summary held now (publish.lua)
      local now = {}
      for j = 1, 6 do now[j] = string.format('%d', tonumber(v[j]) or 0) end
      pub = table.concat(now, '|') .. '|' .. string.format('%d', first_day_net) .. string.sub(pub, 2)
    end
    out[#out + 1] = cid
    for j = 1, 6 do out[#out + 1] = tonumber(v[j]) or 0 end
    out[#out + 1] = first_day_net
    out[#out + 1] = pub
    out[#out + 1] = v[8] or ''
    out[#out + 1] = tonumber(v[9]) or -1
  end
end
return out
