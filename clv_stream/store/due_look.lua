-- clv-stream: the look at due customers that rides on a batch (apply_batch.lua; loaded in
-- front of it, after summary.lua and common.lua).
--
-- Per home partition of the lane (-1: the index of customers without a home), the customers
-- due by event time as_of, at most limit in all, are appended to the reply as customer rows
-- (common.lua: customer_row), except those the batch touched (already in the reply). An
-- entry whose customer's state is gone is dropped; one found under another home than the
-- customer's hash holds is handed to that home's index (its lane owns it). A home whose
-- index gave customers gets l:<p> = as_of in the partition hash: a look whose outputs are
-- pending until publish.lua clears it, so a replay looks alike.
-- Returns the count of index entries looked at.

local function look_due(out, k, prefix, part_key, touched, homes, limit, as_of)
  local left = limit
  for _, shard in ipairs(homes) do
    if left <= 0 then break end
    local index = due_index(prefix, shard)
    local found = redis.call('ZRANGEBYSCORE', index, '-inf', as_of, 'WITHSCORES', 'LIMIT', 0, left)
    if #found > 0 and shard >= 0 then
      redis.call('HSET', part_key, 'l:' .. shard, string.format('%d', as_of))
    end
    for j = 1, #found, 2 do
      local cid, at = found[j], found[j + 1]
      left = left - 1
      if touched[cid] == nil then
        local v = redis.call('HMGET', customer_key(prefix, cid), unpack(ROW_FIELDS))
        local home_now = tonumber(v[9]) or -1
        if not row_known(v) then
          redis.call('ZREM', index, cid)  -- its state is gone: nothing to look at
        elseif home_now ~= shard then
          -- its home moved (or a publication raced the move)
          redis.call('ZREM', index, cid)
          redis.call('ZADD', due_index(prefix, home_now), 'NX', at, cid)
        else
          k = customer_row(out, k, prefix, cid, v)
        end
      end
    end
  end
  return limit - left
end
