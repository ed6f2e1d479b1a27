-- Open (migrating / importing) slots of one Redis Cluster node, for redis_exporter's `--script`.
--
-- redis_exporter does not parse CLUSTER NODES (../shared/redis-ops-reference.md §5), so no stock
-- metric shows a slot left open after a reshard. Run this script with the exporter:
--
--   redis_exporter --script /etc/redis_exporter/cluster-open-slots.lua --lua-script-read-only ...
--
-- (`--lua-script-read-only` sends EVAL_RO: the script only reads, and EVAL_RO also runs on
-- replicas.) The exporter turns the returned key/value pairs into
--   redis_script_values{key="<key>", filename="<path of this file>"} <value>
--   redis_script_result{filename="<path of this file>"} 1   (0 = the script failed, 2 = no output)
-- Keys returned (values are numbers, as strings):
--   cluster_enabled            1, or 0 on a node without cluster support (nothing else then)
--   cluster_open_slots         slots with a migration marker on this node (0 when clean)
--   cluster_migrating_slots    of which MIGRATING here (this node is the source: [slot->-dest])
--   cluster_importing_slots    of which IMPORTING here (this node is the destination: [slot-<-src])
--   slot_<n>_migrating         one per open slot: keys of slot <n> still on this node
--   slot_<n>_importing         one per open slot: keys of slot <n> already on this node
-- The alert RedisClusterOpenSlots (redis-rules.yml) fires on slot_<n>_* series that persist; it
-- copies <n> into a `slot` label and the direction into `state`.
-- Cost: one CLUSTER NODES and one CLUSTER COUNTKEYSINSLOT per open slot (O(1)); markers appear
-- only on the node's own `myself` line.
local ok, nodes = pcall(redis.call, 'CLUSTER', 'NODES')
if not ok then
  return { 'cluster_enabled', '0' }
end

local mine = ''
for line in string.gmatch(nodes, '[^\n]+') do
  local flags = string.match(line, '^%S+ %S+ (%S+)')
  if flags ~= nil and string.find(',' .. flags .. ',', ',myself,', 1, true) then
    mine = line
    break
  end
end

local out = {}
local migrating, importing = 0, 0
-- [1234->-<node id>] = MIGRATING to that node; [1234-<-<node id>] = IMPORTING from it.
for slot, arrow in string.gmatch(mine, '%[(%d+)%-([<>])%-') do
  local keys = redis.call('CLUSTER', 'COUNTKEYSINSLOT', tonumber(slot))
  if arrow == '>' then
    migrating = migrating + 1
    table.insert(out, 'slot_' .. slot .. '_migrating')
  else
    importing = importing + 1
    table.insert(out, 'slot_' .. slot .. '_importing')
  end
  table.insert(out, tostring(keys))
end

table.insert(out, 'cluster_enabled')
table.insert(out, '1')
table.insert(out, 'cluster_open_slots')
table.insert(out, tostring(migrating + importing))
table.insert(out, 'cluster_migrating_slots')
table.insert(out, tostring(migrating))
table.insert(out, 'cluster_importing_slots')
table.insert(out, tostring(importing))
return out
