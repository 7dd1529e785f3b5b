-- Shared by the write benchmarks: read one id per line from $AMSS_BENCH_LUA/<name>.txt.
local M = {}

function M.ids(name)
  local list = {}
  for line in io.lines(os.getenv("AMSS_BENCH_LUA") .. "/" .. name .. ".txt") do
    if line ~= "" then list[#list + 1] = line end
  end
  return list
end

return M
