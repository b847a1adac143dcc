-- clv-stream: what one customer adds to its tenant's portfolio totals (P:{0}:pf:{tenant},
-- a hash field -> integer), so a report reads the totals and never scans the customers.
-- Python's reader of these fields is domain/portfolio.py; the integration test
-- test_report_figures.py checks the report against pandas over the raw events.
--
-- Activity (apply_batch.lua, with the orders that change it): from the customer's months
-- (month index -> counting orders, net, profit of orders placed in it), its acquisition
-- channel and whether it bought on two days or more:
--   n 1 · rp 1 (two purchase days or more)
--   g:<p>:<q> 1 for each active month q after active month p ('' before the first): the
--     gaps a report counts active customers of any run of months with
--   mo:<m> orders · mr:<m> net · mp:<m> profit, of the month the orders were placed in
--   cn:<c> 1 · ca:<c>:<k> 1 · cr:<c>:<k> net, of cohort c (the first month) k months on
--   xa:<c>:<x> 1 · xp:<c>:<x> profit, of channel x's customers acquired in month c
-- Value (publish.lua, with the customer's published value):
--   s<f>:n:<sg> 1 · s<f>:o:<sg> orders · s<f>:r:<sg> net · s<f>:h:<sg> historic CLV ·
--     s<f>:t:<sg> total CLV, per segment cell (sg: the encoded labels; f 'o' for a
--     customer with orders, 's' for one with subscriptions only)
--   cv:<c> total CLV · cvn:<c> 1 · xv:<c>:<x> total CLV · xvn:<c>:<x> 1 (customers with orders)
--   d:<b> 1: the bin of its total CLV (domain/portfolio.py: CLV_BINS)
-- Money in the reporting currency's minor units. A customer's previous contribution is
-- recomputed from what its hash keeps (mo, ch, nd; pv for the value), and the totals take
-- the difference (add_difference, common.lua). The usual changes (orders in the customer's
-- last month or after it: apply_batch.lua's tail_change; a new value in the same segment
-- cell: value_change) are added field by field without rebuilding either contribution: the
-- tests hold them to the whole difference.

-- A customer's months text as a table m -> {count, net, profit}. The text: '~' then, per
-- active month in order, "d:count:net[:profit]" (d: months since the previous one, the
-- first one's month index; profit only where it is not the net), comma-separated; kept
-- short so a customer's hash stays a listpack. Also reads the first form, "m:count:net:profit,...".
local function parse_months(text)
  local found = {}
  if not text or text == '' then return found end
  if string.byte(text, 1) == 126 then  -- '~'
    local m = 0
    for d, n, net, profit in string.gmatch(text, '(%-?%d+):(%-?%d+):(%-?%d+):?(%-?%d*)') do
      m = m + tonumber(d)
      found[m] = {tonumber(n), tonumber(net), tonumber(profit ~= '' and profit or net)}
    end
    return found
  end
  for m, n, net, profit in string.gmatch(text, '(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+)') do
    found[tonumber(m)] = {tonumber(n), tonumber(net), tonumber(profit)}
  end
  return found
end

local function sorted_months(months)
  local keys = {}
  for m, e in pairs(months) do if e[1] > 0 then keys[#keys + 1] = m end end
  table.sort(keys)
  return keys
end

-- The months text of a months table (active months only, in order; parse_months reads it).
local function months_text(months)
  local parts, prev = {}, 0
  for _, m in ipairs(sorted_months(months)) do
    local e = months[m]
    if e[3] == e[2] then parts[#parts + 1] = string.format('%d:%d:%d', m - prev, e[1], e[2])
    else parts[#parts + 1] = string.format('%d:%d:%d:%d', m - prev, e[1], e[2], e[3]) end
    prev = m
  end
  if #parts == 0 then return '' end
  return '~' .. table.concat(parts, ',')
end

-- One month's entry of the months text after `lead` ('~' and the month, or ',' and the
-- months since the previous one).
local function month_part(lead, e)
  if e[3] == e[2] then return string.format('%s:%d:%d', lead, e[1], e[2]) end
  return string.format('%s:%d:%d:%d', lead, e[1], e[2], e[3])
end

-- The acquisition channel as the totals name it.
local function channel_name(ch) if not ch or ch == '' then return 'unknown' end return ch end

local function activity(months, ch, repeat_buyer)
  local out = {}
  local keys = sorted_months(months)
  if #keys == 0 then return out end
  local c, x = keys[1], channel_name(ch)
  out['n'], out['cn:' .. c], out['xa:' .. c .. ':' .. x] = 1, 1, 1
  if repeat_buyer then out['rp'] = 1 end
  local prev, profit = '', 0
  for _, m in ipairs(keys) do
    local e = months[m]
    out['g:' .. prev .. ':' .. m] = 1
    out['mo:' .. m], out['mr:' .. m], out['mp:' .. m] = e[1], e[2], e[3]
    out['ca:' .. c .. ':' .. (m - c)], out['cr:' .. c .. ':' .. (m - c)] = 1, e[2]
    profit = profit + e[3]
    prev = m
  end
  out['xp:' .. c .. ':' .. x] = profit
  return out
end

-- The stored value inputs "f|orders|net|hist|total|cohort|bin|channel" as a contribution.
local function value_of(pv, sg)
  local out = {}
  if not pv or pv == '' then return out end
  local f, o, r, h, t, c, b, x = string.match(pv, '^(%a)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d*)|(%-?%d+)|(.*)$')
  local s = 's' .. f .. ':'
  out[s .. 'n:' .. sg], out[s .. 'o:' .. sg], out[s .. 'r:' .. sg] = 1, tonumber(o), tonumber(r)
  out[s .. 'h:' .. sg], out[s .. 't:' .. sg] = tonumber(h), tonumber(t)
  out['d:' .. b] = 1
  if f == 'o' then
    out['cv:' .. c], out['cvn:' .. c] = tonumber(t), 1
    out['xv:' .. c .. ':' .. x], out['xvn:' .. c .. ':' .. x] = tonumber(t), 1
  end
  return out
end

-- The change of a customer's value contribution from stored inputs `pv0` to `pv1`, for the
-- usual case: the same kind, cohort, channel and segment cell. False otherwise.
local PV = '^(%a)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d*)|(%-?%d+)|(.*)$'
local function value_change(key, pv0, pv1, sg0, sg1)
  if sg0 ~= sg1 or not pv0 or pv0 == '' or pv1 == '' then return false end
  local f0, o0, r0, h0, t0, c0, b0, x0 = string.match(pv0, PV)
  local f1, o1, r1, h1, t1, c1, b1, x1 = string.match(pv1, PV)
  if f0 ~= f1 or c0 ~= c1 or x0 ~= x1 then return false end
  local s, dt = 's' .. f1 .. ':', tonumber(t1) - tonumber(t0)
  add_total(key, s .. 'o:' .. sg1, tonumber(o1) - tonumber(o0))
  add_total(key, s .. 'r:' .. sg1, tonumber(r1) - tonumber(r0))
  add_total(key, s .. 'h:' .. sg1, tonumber(h1) - tonumber(h0))
  add_total(key, s .. 't:' .. sg1, dt)
  if b0 ~= b1 then add_total(key, 'd:' .. b0, -1); add_total(key, 'd:' .. b1, 1) end
  if f1 == 'o' then
    add_total(key, 'cv:' .. c1, dt)
    add_total(key, 'xv:' .. c1 .. ':' .. x1, dt)
  end
  return true
end
