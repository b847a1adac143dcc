-- clv-stream: one customer's reply row, shared by apply_batch.lua (its due customers) and
-- read_customers.lua. redis_store.py puts this file in front of those scripts when it loads
-- them (a Redis script cannot include another).
--
-- v: HMGET of the customer's hash for n, r, pr, f, l, nd, pub, sg, k. Writes the row to
-- out[k + 1 .. k + 11]: customer_id, orders, net, profit, first_ts, last_ts, purchase_days,
-- first_day_net (integers), pub, segments, home (-1: none); returns the new k.
local function customer_row(out, k, prefix, cid, v)
  local first_day_net = 0
  if v[4] then
    local raw = redis.call('HGET', prefix .. ':c:' .. cid, 'd:' .. math.floor(tonumber(v[4]) / 86400))
    if raw then first_day_net = tonumber(string.match(raw, '|(.*)$')) end
  end
  local pub = v[7] or ''
  if string.byte(pub, 1) == 61 then  -- "=|as_of|version": the summary held now (publish.lua)
    local now = {}
    for j = 1, 6 do now[j] = string.format('%d', tonumber(v[j]) or 0) end
    pub = table.concat(now, '|') .. '|' .. string.format('%d', first_day_net) .. string.sub(pub, 2)
  end
  out[k + 1] = cid
  for j = 1, 6 do out[k + 1 + j] = tonumber(v[j]) or 0 end
  out[k + 8], out[k + 9], out[k + 10], out[k + 11] = first_day_net, pub, v[8] or '', tonumber(v[9]) or -1
  return k + 11
end

