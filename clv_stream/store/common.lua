-- clv-stream: helpers shared by the scripts. scripts.py puts this file (after summary.lua)
-- in front of each script when it loads them (a Redis script cannot include another).

-- Keys a script builds itself. Keys of one slot group carry the hash tag {g} (g: the slot
-- group, 0 on a standalone Redis), so on a Redis Cluster every key a call touches hashes to
-- one slot: the partition state (applied and confirmed offsets, generations) and the dedupe
-- keys. Customer keys (P:c:{id}) join the slot groups with the platform work.
local function group_prefix(prefix) return prefix .. ':{0}' end

-- Per orders topic: a:<p> highest offset applied, c:<p> highest offset whose outputs were
-- confirmed published, g:<p> the generation of the partition's current owner.
local function partition_key(prefix, topic) return group_prefix(prefix) .. ':part:' .. topic end

-- A customer's hash. ref: the customer id for the default tenant (the keys of the layout
-- before tenants), else tenant .. NUL .. customer id (ids have no control characters).
local function customer_key(prefix, ref)
  local nul = string.find(ref, '\0', 1, true)  -- plain find: no pattern on the hot path
  if not nul then return prefix .. ':c:' .. ref end
  return prefix .. ':t:' .. string.sub(ref, 1, nul - 1) .. ':c:' .. string.sub(ref, nul + 1)
end

-- The list of a customer's history points (publish.lua): P:h:{id} or P:ht:{tenant}:{id},
-- outside P:c:* and P:t:*, the customer keys a scan reads.
local function history_key(prefix, ref)
  local nul = string.find(ref, '\0', 1, true)
  if not nul then return prefix .. ':h:' .. ref end
  return prefix .. ':ht:' .. string.sub(ref, 1, nul - 1) .. ':' .. string.sub(ref, nul + 1)
end

-- A customer's ref (customer_key) from its tenant and id.
local function customer_ref(tenant, cid, default_tenant)
  if tenant == default_tenant then return cid end
  return tenant .. '\0' .. cid
end

-- The event_id dedupe key, scoped to (tenant, customer, event_id); the customer id's length
-- keeps ids containing ':' apart.
local function dedupe_key(prefix, tenant, cid, event_id)
  return group_prefix(prefix) .. ':e:' .. tenant .. ':' .. #cid .. ':' .. cid .. ':' .. event_id
end

-- The fence: per partition {generation, lowest applied offset expected}. A generation above
-- the caller's means another worker owns the partition now (CLVFENCED); one below it, or an
-- applied offset below the expected one, means Redis went back in time (a failover to a
-- lagging replica, a restore): CLVROLLEDBACK. Returns an error reply, or nil when the caller
-- may write. Called before any write, so a refused call changes nothing.
local function check_fence(key, fence)
  for p, f in pairs(fence) do
    local v = redis.call('HMGET', key, 'g:' .. p, 'a:' .. p)
    local gen, applied = tonumber(v[1]) or 0, tonumber(v[2]) or -1
    if gen > f[1] then return redis.error_reply('CLVFENCED ' .. p) end
    if gen < f[1] or applied < f[2] then return redis.error_reply('CLVROLLEDBACK ' .. p) end
  end
  return nil
end

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

-- A customer's hash omits pr (profit) while it equals r (net: the default margin) and l
-- (last order time) while it equals f (first): v, an HMGET starting n, r, pr, f, l, with
-- the two filled in. Writers: apply_batch.lua's flush and rescan_bounds.
local function stored_summary(v)
  if not v[3] then v[3] = v[2] end
  if not v[5] then v[5] = v[4] end
  return v
end

-- The fields of a customer's hash a reply row is made of (HMGET them in this order).
local ROW_FIELDS = {'n', 'r', 'pr', 'f', 'l', 'nd', 'pub', 'sg', 'k', 'sb', 'ch'}

-- Whether HMGET(ROW_FIELDS) found a customer to answer for: a counting order, a
-- publication, or subscription events.
local function row_known(v) return v[1] or v[7] or v[10] end

-- One customer's reply row (read_customers.lua, and apply_batch.lua's due customers).
-- v: HMGET of the customer's hash for ROW_FIELDS. Writes the row to out[k + 1 .. k + 13]:
-- customer ref (customer_key), orders, net, profit, first_ts, last_ts, purchase_days,
-- first_day_net (integers), pub, segments, home (-1: none), subscription events (sb: the
-- lines apply_batch.lua appends, "" for none), acquisition channel ("" for none given);
-- returns the new k.
local function customer_row(out, k, prefix, cid, v)
  stored_summary(v)
  local first_day_net = stored_first_day_net(customer_key(prefix, cid), v[4])
  local pub = v[7] or ''
  if is_compact(pub) then  -- summary.lua
    pub = expand_snapshot(pub, summary_text(tonumber(v[1]) or 0, tonumber(v[2]) or 0,
      tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0, tonumber(v[6]) or 0,
      first_day_net))
  end
  out[k + 1] = cid
  for j = 1, 6 do out[k + 1 + j] = tonumber(v[j]) or 0 end
  out[k + 8], out[k + 9], out[k + 10], out[k + 11] = first_day_net, pub, v[8] or '', tonumber(v[9]) or -1
  out[k + 12], out[k + 13] = v[10] or '', v[11] or ''
  return k + 13
end


-- The calendar month of an event time (epoch seconds, UTC) as year * 12 + month - 1, the
-- month index the portfolio totals are kept by (Python: domain.months.month_index).
local function month_of(ts)
  local z = math.floor(ts / 86400) + 719468  -- days since 0000-03-01 (civil_from_days)
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return y * 12 + m - 1
end

-- A tenant's portfolio totals (portfolio.lua: what its customers add to them).
local function portfolio_key(prefix, tenant) return group_prefix(prefix) .. ':pf:' .. tenant end

-- Totals (a tenant's portfolio and subscription totals) change by many customers' differences
-- in one script call, often in the same fields: the differences are summed here, and written
-- once per field by flush_totals() at the end of the script. A field is named
-- "kind:a[:b]" ("kind" alone is a field of its own: add_total(key, field, d)); the sums are
-- kept by its parts and the name built once, at the flush, since building a name per
-- customer (tostring and concatenation) costs several times the sum itself in Redis' Lua.
local pending_totals = {}  -- key -> kind -> a -> difference, or a -> b -> difference

local function totals_of(key)
  local acc = pending_totals[key]
  if not acc then acc = {}; pending_totals[key] = acc end
  return acc
end

-- Field "kind:a" changes by d ("kind" alone when a is nil).
local function add_total(key, kind, d, a)
  local t = totals_of(key)
  if a == nil then t[kind] = (t[kind] or 0) + d; return end
  local by = t[kind]
  if not by then by = {}; t[kind] = by end
  by[a] = (by[a] or 0) + d
end

-- Field "kind:a:b" changes by d.
local function add_total2(key, kind, a, b, d)
  local t = totals_of(key)
  local by = t[kind]
  if not by then by = {}; t[kind] = by end
  local sub = by[a]
  if not sub then sub = {}; by[a] = sub end
  sub[b] = (sub[b] or 0) + d
end

local function incr(key, field, d)
  if d ~= 0 then redis.call('HINCRBY', key, field, string.format('%d', d)) end
end

local function flush_totals()
  for key, acc in pairs(pending_totals) do
    for kind, by in pairs(acc) do
      if type(by) == 'number' then incr(key, kind, by)
      else
        for a, d in pairs(by) do
          if type(d) == 'number' then incr(key, kind .. ':' .. a, d)
          else for b, e in pairs(d) do incr(key, kind .. ':' .. a .. ':' .. b, e) end end
        end
      end
    end
  end
  pending_totals = {}
end
