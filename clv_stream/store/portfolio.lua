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
-- recomputed from what its hash keeps (its orders, ch, nd; pv for the value): the totals
-- take it out and add the new one (fields that net to zero are not written: common.lua).
-- The usual change of activity (orders in the customer's last active month or after it:
-- apply_batch.lua's tail_change) is added field by field from the orders it changed,
-- without reading the others: the tests hold it to the whole difference.

-- The active months of a customer's months (m -> {count, net, profit}), in order.
local function sorted_months(months)
  local keys = {}
  for m, e in pairs(months) do if e[1] > 0 then keys[#keys + 1] = m end end
  table.sort(keys)
  return keys
end

-- The acquisition channel as the totals name it.
local function channel_name(ch) if not ch or ch == '' then return 'unknown' end return ch end

-- Add a customer's activity (months, acquisition channel, repeat buyer) to a tenant's totals,
-- times sign (-1 takes a contribution out).
local function add_activity(key, months, ch, repeat_buyer, sign)
  local keys = sorted_months(months)
  if #keys == 0 then return end
  local c, x = keys[1], channel_name(ch)
  add_total(key, 'n', sign); add_total(key, 'cn', sign, c); add_total2(key, 'xa', c, x, sign)
  if repeat_buyer then add_total(key, 'rp', sign) end
  local prev, profit = '', 0
  for _, m in ipairs(keys) do
    local e = months[m]
    add_total2(key, 'g', prev, m, sign)
    add_total(key, 'mo', sign * e[1], m); add_total(key, 'mr', sign * e[2], m)
    add_total(key, 'mp', sign * e[3], m)
    add_total2(key, 'ca', c, m - c, sign); add_total2(key, 'cr', c, m - c, sign * e[2])
    profit = profit + e[3]
    prev = m
  end
  add_total2(key, 'xp', c, x, sign * profit)
end

-- Add the value contribution of stored value inputs pv ("orders|net|hist|total|cohort|bin|
-- channel", hist "" when it is the net, cohort "" for subscriptions only: publish.lua) in
-- segment cell sg to a tenant's totals, times sign.
local PV = '^(%-?%d+)|(%-?%d+)|(%-?%d*)|(%-?%d+)|(%-?%d*)|(%-?%d+)|(.*)$'
local function add_value(key, pv, sg, sign)
  if not pv or pv == '' then return end
  -- the first layout with the totals led with the kind ("o|" or "s|"), which the cohort
  -- tells as well, and always gave hist: the rest reads the same
  if string.find(pv, '^%a|') then pv = string.sub(pv, 3) end
  local o, r, h, t, c, b, x = string.match(pv, PV)
  local s = c ~= '' and 'so' or 'ss'  -- the cell of a customer with orders, or not
  if h == '' then h = r end
  t = sign * tonumber(t)
  add_total2(key, s, 'n', sg, sign); add_total2(key, s, 'o', sg, sign * tonumber(o))
  add_total2(key, s, 'r', sg, sign * tonumber(r)); add_total2(key, s, 'h', sg, sign * tonumber(h))
  add_total2(key, s, 't', sg, t)
  add_total(key, 'd', sign, b)
  if c ~= '' then
    add_total(key, 'cv', t, c); add_total(key, 'cvn', sign, c)
    add_total2(key, 'xv', c, x, t); add_total2(key, 'xvn', c, x, sign)
  end
end
