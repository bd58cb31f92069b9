-- test_examples.lua - the echo server and client of examples/lua/, each run
-- as its own lua5.4 process (the server serves two clients, then exits;
-- `timeout` bounds every process in case of a hang).
local T = require "testlib"

local ROOT = debug.getinfo(1, "S").source:match("^@(.*)/bindings/lua/tests/[^/]*$") or "."
local LUA = arg[-1] or "lua5.4"

local function command(script, ...)
  local words = { "exec timeout 20", LUA, ROOT .. "/examples/lua/" .. script }
  for _, a in ipairs({ ... }) do
    words[#words + 1] = ("'%s'"):format(a)
  end
  return table.concat(words, " ") .. " 2>&1"
end

local function run(script, ...)
  local p = io.popen(command(script, ...))
  local out = p:read("a")
  local ok, _, status = p:close()
  return out, ok and 0 or status
end

T.test("examples: echo server and echo client", function()
  local server = io.popen(command("echo_server.lua", "127.0.0.1", "0", "2"))
  local banner = server:read("l")
  local port = T.truthy(banner and banner:match("^serving on 127%.0%.0%.1:(%d+)$"), "banner " .. tostring(banner))
  T.eq(run("echo_client.lua", "127.0.0.1", port, "hi there"), 'send: "hi there"\nreceived: "hi there"\n')
  T.eq(run("echo_client.lua", "127.0.0.1", port), 'send: "Hello World!"\nreceived: "Hello World!"\n')
  local log = server:read("a")
  T.truthy(log:match('^received "hi there" from 127%.0%.0%.1:%d+\nreceived "Hello World!" from'), "server log " .. log)
  T.truthy(server:close(), "the server exits after two clients")
end)

T.test("examples: the echo client reports a refused connection", function()
  local out, status = run("echo_client.lua", "127.0.0.1", "1")
  T.eq(status, 1, "exit status")
  T.truthy(out:match("^ECONNREFUSED: connect to 127%.0%.0%.1:1: "), "message " .. out)
end)

T.test("examples: the coroutine echo server serves a client while another idles", function()
  local uvs = require "uvstreams"
  local server = io.popen(command("echo_server_coroutines.lua", "127.0.0.1", "0", "2"))
  local banner = server:read("l")
  local port = T.truthy(banner and banner:match("^serving on 127%.0%.0%.1:(%d+)$"), "banner " .. tostring(banner))
  local idle = uvs.connect("127.0.0.1", tonumber(port), { timeout = 5 }):settimeout(5)
  T.eq(run("echo_client.lua", "127.0.0.1", port, "while idle"), 'send: "while idle"\nreceived: "while idle"\n')
  T.eq(idle:write("late\n"):readline(), "late\n")
  idle:close():wait_closed()
  local log = server:read("a")
  T.truthy(log:match('^received "while idle" from 127%.0%.0%.1:%d+\nreceived "late" from'), "server log " .. log)
  T.truthy(server:close(), "the server exits after two clients")
end)
