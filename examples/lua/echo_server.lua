--[[
echo_server.lua - TCP echo server with the uvstreams Lua binding.

  LUA_CPATH='build/lua/?.so' LUA_PATH='build/lua/?.lua' \
    lua5.4 examples/lua/echo_server.lua [HOST] [PORT] [CLIENTS]

Prints "serving on HOST:PORT" (PORT 0 picks a free port), then echoes each
line back until the client closes. Lua has no threads and this is the
blocking API, so clients are served one after the other; with CLIENTS the
server exits after that many, otherwise it runs until interrupted.
]]

local uvs = require "uvstreams"

local host = arg[1] or "127.0.0.1"
local port = tonumber(arg[2] or "8888")
local clients = tonumber(arg[3] or "")

local function serve(stream)
  local peer_host, peer_port = stream:getpeername()
  for line in stream:lines() do
    print(("received %q from %s:%d"):format((line:gsub("\n$", "")), peer_host, peer_port))
    io.stdout:flush()
    stream:write(line):drain()
  end
  stream:close():wait_closed()
end

local server <close> = uvs.listen(host, port)
print(("serving on %s:%d"):format(server:getsockname()))
io.stdout:flush()
local served = 0
while not clients or served < clients do
  serve(server:accept())
  served = served + 1
end
