-- clv-stream: the one place in Lua that writes and reads the summary string and the
-- published snapshot text (Python's one place is store/snapshot.py; the integration test
-- test_lua_agrees.py keeps the two equal). Loaded in front of the scripts (scripts.py).
--
-- summary:  orders|net|profit|first_ts|last_ts|purchase_days|first_day_net, integers
-- snapshot: summary|as_of|model_version (Published.encode), what a customer's pub holds
-- compact:  "=|as_of|model_version", a snapshot of the very summary the customer's hash
--           holds now: publish.lua stores the usual case so (40 bytes less a customer), and
--           every reader expands it before the summary changes or leaves the script.

local function summary_text(orders, net, profit, first_ts, last_ts, days, first_day_net)
  -- %d: money is exact to 2^53, and never printed as a float
  return string.format('%d|%d|%d|%d|%d|%d|%d', orders, net, profit, first_ts, last_ts, days,
                       first_day_net)
end

-- Whether a stored snapshot is the compact form ("=" is byte 61).
local function is_compact(pub) return string.byte(pub, 1) == 61 end

-- The whole snapshot of a compact one, given the summary text the hash holds now.
local function expand_snapshot(pub, summary) return summary .. string.sub(pub, 2) end

-- The snapshot to store: compact when it was published of ``summary`` (the hash's now).
local function compact_snapshot(pub, summary)
  local head = summary .. '|'
  if string.sub(pub, 1, #head) == head then return '=|' .. string.sub(pub, #head + 1) end
  return pub
end
