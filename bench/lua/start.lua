-- PATCH …/state in_progress: each request starts the next scheduled task of the list.
package.path = os.getenv("AMSS_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local tasks = common.ids("tasks")
local next_one = 0

request = function()
  next_one = next_one + 1
  local id = tasks[(next_one - 1) % #tasks + 1]
  return wrk.format("PATCH", "/api/v1/maintenance-tasks/" .. id .. "/state", nil,
    '{"new_state":"in_progress"}')
end
