-- clv-stream: renew or release a lease only while its owner holds it.
--
-- ARGV: the lease key (P:lease:{name}), owner, ttl_s (0: release)
-- Renew (ttl_s > 0): a lease that lapsed is taken back, one another owner holds is left be.
-- Returns 1 when the caller holds the lease after the call (renew) or released it, else 0.

local key, owner, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local holder = redis.call('GET', key)
if holder and holder ~= owner then return 0 end
if ttl > 0 then
  redis.call('SET', key, owner, 'EX', ttl)
elseif holder then
  redis.call('DEL', key)
end
return 1
