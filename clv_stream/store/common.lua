-- clv-stream: helpers shared by the scripts. redis_store.py puts this file in front of each
-- script when it loads them (a Redis script cannot include another).

-- The due index of a home partition (-1 or nil: the index of customers without a home).
local function due_index(prefix, home)
  if home == nil or home < 0 then return prefix .. ':due' end
  return prefix .. ':due:' .. home
end

-- Net revenue of a customer's first purchase day, from its hash (f: first_ts as stored).
local function stored_first_day_net(key, f)
  if not f then return 0 end
  local raw = redis.call('HGET', key, 'd:' .. math.floor(tonumber(f) / 86400))
  return raw and tonumber(string.match(raw, '|(.*)$')) or 0
end

-- One customer's reply row (read_customers.lua, and apply_batch.lua's due customers).
-- v: HMGET of the customer's hash for n, r, pr, f, l, nd, pub, sg, k. Writes the row to
-- out[k + 1 .. k + 11]: customer_id, orders, net, profit, first_ts, last_ts, purchase_days,
-- first_day_net (integers), pub, segments, home (-1: none); returns the new k.
local function customer_row(out, k, prefix, cid, v)
  local first_day_net = stored_first_day_net(prefix .. ':c:' .. cid, v[4])
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

