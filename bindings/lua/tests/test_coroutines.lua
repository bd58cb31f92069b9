-- test_coroutines.lua - uvstreams.spawn/run: many streams at once as
-- coroutines on the engine's completion queue, servers and clients in this
-- process. Every wait is bounded by an op timeout, so a stalled task fails
-- with ETIMEDOUT instead of hanging.
local T = require "testlib"
local uvs = require "uvstreams"

local WAIT = 5

-- Echoes lines until EOF, then closes.
local function echo(stream)
  for line in stream:lines(WAIT * 4) do
    stream:write(line):drain()
  end
  stream:close()
end

-- A listening server whose accept loop is a task spawning echo per client;
-- the loop ends when the server is closed.
local function echo_server()
  local server = uvs.listen("127.0.0.1", 0)
  uvs.spawn(function()
    while true do
      local ok, stream = pcall(server.accept, server)
      if not ok then
        T.eq(stream.name, "ECLOSED", "accept after close")
        return
      end
      uvs.spawn(echo, stream:settimeout(WAIT))
    end
  end)
  return server
end

local function client(server)
  return uvs.connect("127.0.0.1", select(2, server:getsockname()), { timeout = WAIT }):settimeout(WAIT)
end

T.test("coroutines: 99 idle clients, one busy, ~0 CPU while all idle", function()
  local round_trips, idle_cpu = uvs.run(function()
    local server = echo_server()
    local idle, idle_ended = {}, 0
    for i = 1, 99 do
      local s = client(server)
      T.eq(s:write("hello " .. i .. "\n"):readline(), "hello " .. i .. "\n")
      idle[i] = s
      uvs.spawn(function()
        T.eq(s:readline(60), "", "an idle client's read ends at EOF")
        idle_ended = idle_ended + 1
      end)
    end
    local busy = client(server)
    local done = 0
    for i = 1, 200 do
      local line = ("round trip %d %s\n"):format(i, ("x"):rep(i))
      T.eq(busy:write(line):readline(), line)
      done = i
    end
    T.eq(server:num_clients(), 100, "clients connected during the round trips")
    T.eq(idle_ended, 0, "idle clients still waiting")
    -- all 100 idle for ~1 s: a read that times out
    local cpu0 = os.clock()
    T.raises("ETIMEDOUT", busy.readline, busy, 1)
    local cpu = os.clock() - cpu0
    server:close()
    server:close_clients()
    T.eq(busy:readline(), "", "EOF after close_clients")
    return done, cpu
  end)
  T.eq(round_trips, 200, "round trips")
  print(("  # 200 round trips; CPU over 1 s with 100 clients idle: %.3f s"):format(idle_cpu))
  T.truthy(idle_cpu < 0.2, ("CPU while idle %.3f s < 0.2 s"):format(idle_cpu))
end)

T.test("coroutines: read calls, timeouts and errors as the blocking API's", function()
  uvs.run(function()
    local server = uvs.listen("127.0.0.1", 0)
    local peer
    uvs.spawn(function()
      peer = server:accept(WAIT)
    end)
    local s = client(server)
    while not peer do
      coroutine.yield() -- lets the accept task run
    end
    peer:write("abc\ndefgh"):drain()
    T.eq(s:readline(), "abc\n")
    T.eq(s:readexactly(3), "def")
    local err = T.raises("ETIMEDOUT", s.readline, s, 0.2)
    T.truthy(uvs.is_error(err), "an uvstreams.Error")
    T.eq(err.message, "readline timed out after 0.2 s")
    s:settimeout(0.1)
    T.raises("ETIMEDOUT", s.readexactly, s, 3)
    s:settimeout(WAIT)
    T.eq(s:readuntil("g"), "g", "a timed-out read consumed nothing")
    peer:write("h"):write_eof()
    err = T.raises("EINCOMPLETE", s.readexactly, s, 5)
    T.eq(err.partial, "hh")
    T.eq(err.expected, 5)
    T.eq(tostring(err), "EINCOMPLETE: 2 bytes read on a total of 5 expected bytes")
    T.raises("ECONNREFUSED", uvs.connect, "127.0.0.1", 1, { timeout = WAIT })
    peer:close()
    s:close():wait_closed()
    server:close():wait_closed(WAIT)
  end)
end)

T.test("coroutines: a reader and a writer task on one stream", function()
  local got = {}
  uvs.run(function()
    local server = echo_server()
    local s = client(server)
    uvs.spawn(function()
      for line in s:lines() do
        got[#got + 1] = line
      end
      s:close()
    end)
    for i = 1, 50 do
      s:write(("%d\n"):format(i)):drain()
    end
    s:write_eof()
    server:close()
  end)
  T.eq(#got, 50, "lines echoed")
  T.eq(got[50], "50\n")
end)

T.test("coroutines: an error ends run, cancels the other tasks, loses no byte", function()
  local server = uvs.listen("127.0.0.1", 0)
  local a = client(server)
  local b = server:accept(WAIT):settimeout(WAIT)
  local ok, err = pcall(uvs.run, function()
    uvs.spawn(function()
      a:readline()
      error("never reached")
    end)
    b:write("pending"):drain()
    error("boom")
  end)
  T.eq(ok, false)
  T.truthy(tostring(err):find("boom", 1, true), "the task's error: " .. tostring(err))
  b:write(" line\n"):drain()
  T.eq(a:readline(), "pending line\n", "blocking read after the run")
  local results = table.pack(uvs.run(function(x, y) return x + y, "done" end, 1, 2))
  T.eq(results[1], 3)
  T.eq(results[2], "done")
end)

T.test("coroutines: run inside run is refused; plain coroutines block", function()
  uvs.run(function()
    local ok, err = pcall(uvs.run, function() end)
    T.eq(ok, false)
    T.truthy(tostring(err):find("already running", 1, true), tostring(err))
    local r = uvs.reader():feed_data("x\n")
    local co = coroutine.wrap(function() return r:readline(1) end)
    T.eq(co(), "x\n", "a read in a coroutine that is no task")
  end)
end)
