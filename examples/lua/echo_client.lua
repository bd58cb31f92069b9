--[[
echo_client.lua - TCP echo client with the uvstreams Lua binding.

  LUA_CPATH='build/lua/?.so' LUA_PATH='build/lua/?.lua' \
    lua5.4 examples/lua/echo_client.lua [HOST] [PORT] [MESSAGE]

Sends MESSAGE (one line) and prints what comes back; every wait is bounded
(5 s), and a failure is printed as "NAME: message" with exit status 1.
]]

local uvs = require "uvstreams"

local host = arg[1] or "127.0.0.1"
local port = tonumber(arg[2] or "8888")
local message = arg[3] or "Hello World!"

local function echo()
  local stream <close> = uvs.connect(host, port, { timeout = 5 }):settimeout(5)
  print(("send: %q"):format(message))
  stream:write(message .. "\n"):drain()
  local line = stream:readline()
  print(("received: %q"):format((line:gsub("\n$", ""))))
  stream:close():wait_closed()
end

local ok, err = pcall(echo)
if not ok then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
