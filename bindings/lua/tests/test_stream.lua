-- test_stream.lua - connections over loopback TCP and Unix sockets, both
-- ends in this process: the engine's I/O thread accepts and connects while
-- Lua waits, so a blocking connect followed by accept needs no second
-- thread. Every wait is bounded.
local T = require "testlib"
local uvs = require "uvstreams"

local WAIT = 5

-- A listening server and a connected (client, server-side) pair.
local function pair(opts, server_opts)
  local server = uvs.listen("127.0.0.1", 0, server_opts)
  local host, port = server:getsockname()
  local client = uvs.connect(host, port, opts or { timeout = WAIT }):settimeout(WAIT)
  return client, server:accept(WAIT):settimeout(WAIT), server
end

local function tmpdir()
  local path = os.tmpname()
  os.remove(path)
  assert(os.execute("mkdir -m 700 " .. path))
  return path
end

T.test("stream: write, drain and the read calls across TCP", function()
  local a, b = pair()
  a:write("line one\nfixed"):writelines({ "--", "until;", "rest" }):drain()
  T.eq(b:readline(), "line one\n")
  T.eq(b:readexactly(5), "fixed")
  T.eq(b:readuntil("--"), "--")
  T.eq(b:readuntil({ ";", "!" }), "until;")
  a:write_eof()
  T.eq(b:read(), "rest")
  T.truthy(b:at_eof(), "at_eof after EOF")
  b:write("back"):close()
  T.eq(a:read(), "back")
  a:close():wait_closed()
end)

T.test("stream: both ends are read by the waiting thread (direct_reads)", function()
  local a, b = pair()
  T.eq(a:get_extra_info("direct_reads"), 1)
  T.eq(b:get_extra_info("direct_reads"), 1)
  a:write("ping\n")
  T.eq(b:readline(), "ping\n")
  local c, d = pair({ timeout = WAIT, direct_reads = false })
  T.eq(c:get_extra_info("direct_reads"), 0, "turned off by the caller")
  for _, s in ipairs({ a, b, c, d }) do
    s:close()
  end
end)

T.test("stream: peer and socket names", function()
  local a, b, server = pair()
  local host, port = server:getsockname()
  T.eq(host, "127.0.0.1")
  local peer_host, peer_port = a:getpeername()
  T.eq(peer_host, "127.0.0.1")
  T.eq(peer_port, port, "client's peer port")
  local _, sock_port = a:getsockname()
  T.eq(select(2, b:getpeername()), sock_port, "server side's peer port")
  T.eq(a:get_extra_info("peername"), "127.0.0.1:" .. port)
  T.eq(a:get_extra_info("kind"), "tcp")
  T.eq(a:get_extra_info("tls.version"), nil, "a key that does not apply")
  T.eq(#server:addresses(), 1)
  T.eq(b:get_extra_info("family"), 4)
end)

T.test("stream: a timed-out read keeps the data for the next read", function()
  local a, b = pair()
  a:write("no newline yet"):drain()
  T.raises("ETIMEDOUT", b.readline, b, 0.1)
  a:write("\n"):drain()
  T.eq(b:readline(), "no newline yet\n")
end)

T.test("stream: the limit option applies to accepted streams", function()
  local a, b = pair(nil, { limit = 16 })
  a:write(("z"):rep(40)):drain()
  local err = T.raises("ELIMIT", b.readuntil, b, "\n")
  T.truthy(err.consumed >= 16, "consumed")
  T.eq(b:get_extra_info("limit"), 16)
end)

T.test("stream: readexactly after the peer closed is EINCOMPLETE", function()
  local a, b = pair()
  a:write("abc"):close()
  local err = T.raises("EINCOMPLETE", b.readexactly, b, 10)
  T.eq(err.partial, "abc")
  T.eq(err.expected, 10)
end)

T.test("stream: write after close and after write_eof", function()
  local a = pair()
  a:write_eof()
  T.raises("EWRITEEOF", a.write, a, "x")
  a:close()
  T.raises("ECLOSED", a.write, a, "x")
  T.truthy(a:is_closing(), "is_closing")
end)

T.test("stream: drain waits for a large write to reach the peer", function()
  local a, b = pair({ timeout = WAIT, write_high = 1024 })
  local big = ("0123456789abcdef"):rep(65536)
  a:write(big)
  local got = {}
  local total = 0
  while total < #big do
    local chunk = b:read(#big - total)
    got[#got + 1] = chunk
    total = total + #chunk
  end
  a:drain()
  T.eq(a:write_buffer_size(), 0, "write buffer after drain")
  T.truthy(table.concat(got) == big, "the bytes arrived intact")
end)

T.test("stream: connection refused and connect timeout argument", function()
  local server = uvs.listen("127.0.0.1", 0)
  local _, port = server:getsockname()
  server:close():wait_closed(WAIT)
  local err = T.raises("ECONNREFUSED", uvs.connect, "127.0.0.1", port, { timeout = WAIT })
  T.truthy(err.message:find("127.0.0.1:" .. port, 1, true), "the message names the address")
  T.raises("EINVAL", uvs.connect, "127.0.0.1", port, { nodelay = "yes" })
end)

T.test("stream: to-be-closed streams and servers close at scope end", function()
  local server <close> = uvs.listen("127.0.0.1", 0)
  local escaped
  do
    local a <close> = uvs.connect("127.0.0.1", select(2, server:getsockname()), { timeout = WAIT })
    escaped = a
  end
  T.truthy(escaped:is_closing(), "closed by <close>")
  local b = server:accept(WAIT)
  T.eq(b:read(1, WAIT), "", "the server side sees EOF")
end)

T.test("stream: accept times out, then a closed server refuses", function()
  local server = uvs.listen("127.0.0.1", 0)
  T.raises("ETIMEDOUT", server.accept, server, 0.05)
  T.truthy(server:is_serving(), "is_serving")
  server:close()
  T.raises("ECLOSED", server.accept, server, WAIT)
end)

T.test("stream: Unix sockets", function()
  local dir = tmpdir()
  local path = dir .. "/echo.sock"
  local server = uvs.listen_unix(path)
  T.eq(server:getsockname(), path)
  local a = uvs.connect_unix(path, { timeout = WAIT }):settimeout(WAIT)
  local b = server:accept(WAIT):settimeout(WAIT)
  T.eq(a:getpeername(), path)
  T.eq(a:get_extra_info("kind"), "unix")
  a:write("over unix\n"):drain()
  T.eq(b:readline(), "over unix\n")
  a:close()
  b:close()
  server:close():wait_closed(WAIT)
  os.remove(dir)
end)

T.test("stream: server clients and wait_closed", function()
  local a, b, server = pair()
  T.eq(server:num_clients(), 1)
  server:close()
  server:close_clients()
  T.eq(a:read(1), "", "the client sees the server side close")
  a:close()
  b:wait_closed()
  server:wait_closed(WAIT)
  T.eq(server:num_clients(), 0)
end)

T.test("stream: after a reset, write drops the data and drain raises", function()
  local a, b = pair()
  a:abort()
  T.raises("ECONNRESET", b.read, b, 10)
  b:write("dropped")
  T.raises("ECONNRESET", b.drain, b)
end)
