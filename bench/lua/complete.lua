-- PATCH …/state completed: a record entry (the admin transcribes the signed work order).
package.path = os.getenv("AMSS_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local tasks = common.ids("started")
local next_one = 0
local body = '{"new_state":"completed","notes":"Bench work done",'
  .. '"certified_by_name":"J. Rivera","certificate_number":"A&P 3412876",'
  .. '"record_reference":"WO-1"}'

request = function()
  next_one = next_one + 1
  local id = tasks[(next_one - 1) % #tasks + 1]
  return wrk.format("PATCH", "/api/v1/maintenance-tasks/" .. id .. "/state", nil, body)
end
