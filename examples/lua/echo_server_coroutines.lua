--[[
echo_server_coroutines.lua - TCP echo server serving every client at once,
with the uvstreams Lua binding's coroutines (uvstreams.spawn/run).

  LUA_CPATH='build/lua/?.so' LUA_PATH='build/lua/?.lua' \
    lua5.4 examples/lua/echo_server_coroutines.lua [HOST] [PORT] [CLIENTS]

Prints "serving on HOST:PORT" (PORT 0 picks a free port), then echoes each
line back until the client closes. Each connection is a task written as
straight-line code: its readline suspends the task, not the process, so an
idle client never stalls the others and a server with every client idle
sleeps. With CLIENTS the server exits once that many clients have left,
otherwise it runs until interrupted.
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

uvs.run(function()
  local server <close> = uvs.listen(host, port)
  print(("serving on %s:%d"):format(server:getsockname()))
  io.stdout:flush()
  local accepted = 0
  while not clients or accepted < clients do
    local stream = server:accept()
    accepted = accepted + 1
    -- a client that fails (a reset, ...) ends its own task only
    uvs.spawn(function()
      local ok, err = pcall(serve, stream)
      if not ok then
        io.stderr:write(tostring(err), "\n")
      end
    end)
  end
end) -- run returns when the last client's task has ended
