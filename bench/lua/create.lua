-- POST /maintenance-tasks, round-robin over the benchmark's aircraft.
package.path = os.getenv("AMSS_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local aircraft = common.ids("aircraft")
local next_one = 0

request = function()
  next_one = next_one % #aircraft + 1
  local body = '{"aircraft_id":"' .. aircraft[next_one] .. '","type":"repair","title":"Bench created"}'
  return wrk.format("POST", "/api/v1/maintenance-tasks", nil, body)
end
