-- run.lua - runs the Lua binding's unit tests: lua5.4 run.lua test_*.lua
-- (each file registers its tests with testlib.test; see testlib.lua).
local T = require "testlib"

for _, path in ipairs(arg) do
  dofile(path)
end
T.run("lua unit tests")
