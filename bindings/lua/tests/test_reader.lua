-- test_reader.lua - asyncio StreamReader semantics through the standalone
-- reader (no transport: the bytes are fed by the test), and the shape of
-- the error values.
local T = require "testlib"
local uvs = require "uvstreams"

local function reader(data, eof, opts)
  local r = uvs.reader(opts)
  if data then
    r:feed_data(data)
  end
  if eof then
    r:feed_eof()
  end
  return r
end

T.test("reader: readline, read, readexactly", function()
  local r = reader("one\ntwo\nthree four", true)
  T.eq(r:readline(), "one\n")
  T.eq(r:readexactly(4), "two\n")
  T.eq(r:read(5), "three")
  T.eq(r:read(), " four")
  T.eq(r:read(), "", "read at EOF")
  T.eq(r:readline(), "", "readline at EOF")
  T.truthy(r:at_eof(), "at_eof")
end)

T.test("reader: the last partial line is a success", function()
  T.eq(reader("tail", true):readline(), "tail")
end)

T.test("reader: lines() iterates until EOF", function()
  local got = {}
  for line in reader("a\nb\nc", true):lines() do
    got[#got + 1] = line
  end
  T.eq(table.concat(got, "|"), "a\n|b\n|c")
end)

T.test("reader: readexactly at EOF is EINCOMPLETE with the partial bytes", function()
  local err = T.raises("EINCOMPLETE", reader("abc", true).readexactly, reader("abc", true), 5)
  T.eq(err.partial, "abc", "partial")
  T.eq(err.expected, 5, "expected")
  T.eq(err.code, uvs.c.UVS_EINCOMPLETE, "code")
  T.eq(err.message, "3 bytes read on a total of 5 expected bytes", "message")
  T.eq(tostring(err), "EINCOMPLETE: 3 bytes read on a total of 5 expected bytes")
  T.truthy(uvs.is_error(err), "is_error")
end)

T.test("reader: readuntil at EOF is EINCOMPLETE without expected", function()
  local r = reader("no separator", true)
  local err = T.raises("EINCOMPLETE", r.readuntil, r, "\r\n")
  T.eq(err.partial, "no separator", "partial")
  T.eq(err.expected, nil, "expected")
  T.eq(r:read(), "", "the buffer was cleared")
end)

T.test("reader: readuntil overrunning the limit is ELIMIT with consumed", function()
  local r = reader(("x"):rep(20), false, { limit = 8 })
  local err = T.raises("ELIMIT", r.readuntil, r, "!")
  T.truthy(err.consumed and err.consumed >= 8, "consumed >= limit")
  T.eq(err.message, "Separator is not found, and chunk exceed the limit")
  T.eq(r:readexactly(20), ("x"):rep(20), "nothing was removed")
end)

T.test("reader: readline longer than the limit is ELIMIT, the line discarded", function()
  local r = reader(("y"):rep(12) .. "\nnext\n", false, { limit = 8 })
  T.raises("ELIMIT", r.readline, r)
  T.eq(r:readline(), "next\n")
end)

T.test("reader: readuntil with several separators takes the earliest", function()
  local r = reader("a;b,c", true)
  T.eq(r:readuntil({ ",", ";" }), "a;")
  T.eq(r:readuntil({ ",", ";" }), "b,")
  T.raises("EINVAL", r.readuntil, r, {})
end)

T.test("reader: a timed-out read consumes nothing", function()
  local r = reader("partial")
  local err = T.raises("ETIMEDOUT", r.readline, r, 0.05)
  T.eq(err.message, "readline timed out after 0.05 s")
  r:feed_data(" line\n")
  T.eq(r:readline(0.5), "partial line\n")
end)

T.test("reader: settimeout is the default timeout", function()
  local r = reader():settimeout(0.02)
  T.raises("ETIMEDOUT", r.read, r, 1)
  T.raises("ETIMEDOUT", r.readexactly, r, 1)
end)

T.test("reader: a stored error is raised by reads and exception()", function()
  local r = reader("x")
  T.eq(r:exception(), nil)
  r:set_error(uvs.c.UVS_ECONNRESET)
  T.raises("ECONNRESET", r.read, r, 1)
  T.eq(r:exception().name, "ECONNRESET")
end)

T.test("reader: invalid arguments", function()
  local r = reader("abc")
  T.raises("EINVAL", r.readexactly, r, -1)
  T.raises("EINVAL", uvs.reader, { limit = 0 })
  T.raises("EINVAL", uvs.reader, { no_such_option = 1 })
  T.truthy(not pcall(r.read, r, 1.5), "a non-integral size is a Lua error")
  T.truthy(not pcall(r.feed_data, r, 42), "a number is not bytes")
  T.truthy(not pcall(r.read, r, 1, -1), "a negative timeout is a Lua error")
end)

T.test("reader: binary data passes unchanged", function()
  local bytes = {}
  for i = 0, 255 do
    bytes[#bytes + 1] = string.char(i)
  end
  local all = table.concat(bytes)
  T.eq(reader(all, true):read(), all)
end)
