--[[
uvstreams.lua - asyncio-style byte streams for Lua 5.4, blocking with
timeouts, on the uvstreams C engine (the generated module uvstreams_c).

Design: Lua has no threads, so the API is the blocking one. One threaded
engine (one I/O thread) per Lua state does the I/O; it is created on first
use and freed when the state closes (a __gc on a value created before any
stream, so it is finalized after them). Every call that waits starts the
engine's asynchronous operation on an op owned by the stream or server and
waits for it with uvs_op_wait in 200 ms slices: the deadline is the op's own
timeout (a read that times out consumes nothing), and an interruption
between slices (Ctrl-C in lua5.4) cancels the operation and puts a read's
bytes back, so nothing is lost. The semantics of every call (limits,
separators, EOF, errors) are the engine's, i.e. asyncio's.

Many streams at once: uvstreams.run(fn) runs fn and the tasks it spawns
(uvstreams.spawn) as coroutines over one completion queue of the engine.
The same calls, made in a task, start their operation on an op of that
queue (one per call in flight, reused) and yield; the scheduler sleeps in
uvs_cq_wait until an op completes and resumes its task. So a connection is
straight-line code, an idle server costs no CPU, and timeouts and errors
are the blocking calls' own (same ops, same error mapping). Outside a task
(the main thread, any other coroutine) every call blocks as before.

Conventions:
- failures raise an uvstreams.Error (error() with a table): fields code
  (negative UVS_E* value), name ("ETIMEDOUT", "EINCOMPLETE", ...), message,
  and partial/expected (EINCOMPLETE) or consumed (ELIMIT); tostring(err)
  gives "NAME: message". Wrong Lua argument types raise ordinary string
  errors, as any Lua function does.
- timeouts are in seconds (fractions allowed); nil waits for ever;
  stream:settimeout(t) sets the default of the stream's waiting calls.
- bytes are Lua strings; methods without a result return their object.
]]

--- asyncio-style byte streams for Lua 5.4 (LDoc comments: `ldoc uvstreams.lua`).
-- Failures raise an `Error`; timeouts are in seconds, nil waits for ever.
-- @module uvstreams

local c = require "uvstreams_c"

local M = {
  c = c,
  version = c.uvs_version_string(),
  DEFAULT_LIMIT = 65536,
}

local SLICE_MS = 200

-- ---- errors --------------------------------------------------------------

--- An error raised by the module: `code` (a negative UVS_E* value), `name`
-- ("ETIMEDOUT", ...), `message`, and `partial`/`expected` (EINCOMPLETE) or
-- `consumed` (ELIMIT). `tostring(err)` gives "NAME: message".
-- @type Error
local Error = { __name = "uvstreams.Error" }
Error.__index = Error
M.Error = Error

function Error:__tostring()
  return self.name .. ": " .. self.message
end

local function new_error(code, message, fields)
  local err = fields or {}
  err.code = code
  err.name = c.uvs_err_name(code)
  err.message = (message and message ~= "") and message or c.uvs_strerror(code)
  return setmetatable(err, Error)
end

local function raise(code, message)
  error(new_error(code, message))
end

-- rc when it is not an error code; raises the last failure otherwise.
local function check(rc)
  if rc < 0 then
    raise(rc, c.uvs_last_error())
  end
  return rc
end

--- true when v is an error raised by this module.
function M.is_error(v)
  return getmetatable(v) == Error
end

-- ---- engine, timeouts, operations ---------------------------------------

local engine_box

-- The engine's scheduler state (see M.run): its completion queue, the ops
-- not in use, the tasks and the ops they wait for.
local function new_scheduler()
  return { free = {}, ready = {}, tasks = {}, waiting = {}, blocked = {}, count = 0 }
end

local function engine()
  if not engine_box then
    local rc, e = c.uvs_engine_new(nil)
    check(rc)
    engine_box = setmetatable({ h = e, sched = new_scheduler() }, {
      __gc = function(box)
        for _, op in ipairs(box.sched.free) do
          c.uvs_op_free(op)
        end
        if box.sched.cq then
          c.uvs_cq_free(box.sched.cq)
        end
        c.uvs_engine_free(box.h)
      end,
    })
  end
  return engine_box.h
end

-- Seconds (nil or math.huge: for ever) to the C API's milliseconds.
local function to_ms(seconds)
  if seconds == nil or seconds == math.huge then
    return -1
  end
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    error("timeout must be nil or a number of seconds >= 0", 3)
  end
  return math.floor(seconds * 1000 + 0.5)
end

local function new_op()
  local rc, op = c.uvs_op_new(nil, 0)
  check(rc)
  return op
end

local function wait(op)
  while true do
    local rc = c.uvs_op_wait(op, SLICE_MS)
    if rc == 0 then
      return
    end
    if rc ~= c.UVS_ETIMEDOUT then
      check(rc)
    end
  end
end

-- The scheduler when the running coroutine is one of its tasks, else nil.
local function task_scheduler()
  local sched = engine_box and engine_box.sched
  if sched and sched.tasks[coroutine.running()] then
    return sched
  end
end

-- An op on the scheduler's completion queue, from the free list if any.
local function take_op(sched)
  local op = table.remove(sched.free)
  if not op then
    local rc
    rc, op = c.uvs_op_new(sched.cq, 0)
    check(rc)
  end
  return op
end

-- Starts the operation (start(op) returns the *_start status) with a
-- deadline and waits until it completed: a task yields to the scheduler
-- until the completion queue delivers the op; elsewhere uvs_op_wait blocks,
-- and an error while waiting (an interruption) cancels the operation and
-- gives a read's bytes back before going on.
local function start_and_wait(sched, op, timeout, start)
  check(c.uvs_op_set_timeout(op, to_ms(timeout)))
  if check(start(op)) ~= c.UVS_PENDING then
    return
  end
  if sched then
    local co = coroutine.running()
    sched.waiting[op], sched.blocked[co] = co, true
    coroutine.yield()
    return
  end
  local ok, err = pcall(wait, op)
  if not ok then
    c.uvs_op_cancel(op)
    c.uvs_op_wait(op, -1)
    c.uvs_op_unread(op)
    error(err, 0)
  end
end

-- Runs one operation and returns result(op) (which raises its failure). A
-- task uses an op of the scheduler (its own, so a stream's reads and drains
-- can wait in different tasks); elsewhere own_op, or a new op for this
-- call when own_op is nil.
local function perform(own_op, timeout, start, result)
  local sched = task_scheduler()
  local op = sched and take_op(sched) or own_op or new_op()
  local ok, value = pcall(function()
    start_and_wait(sched, op, timeout, start)
    return result(op)
  end)
  if sched then
    table.insert(sched.free, op)
  elseif op ~= own_op then
    c.uvs_op_free(op)
  end
  if not ok then
    error(value, 0)
  end
  return value
end

-- The error of a completed op that failed with rc (data: its bytes).
local function op_error(op, rc, data, what, timeout)
  if rc == c.UVS_EBADHANDLE or rc == c.UVS_EOPBUSY then
    return new_error(rc, c.uvs_last_error())
  end
  local message, fields = c.uvs_op_error(op), {}
  if rc == c.UVS_EINCOMPLETE then
    local expected = c.uvs_op_expected(op)
    fields.partial = data
    fields.expected = expected >= 0 and expected or nil
    message = ("%d bytes read on a total of %s expected bytes")
      :format(#data, fields.expected or "undefined")
  elseif rc == c.UVS_ELIMIT then
    local consumed = c.uvs_op_consumed(op)
    fields.consumed = consumed >= 0 and consumed or nil
  elseif rc == c.UVS_ETIMEDOUT and message == "" then
    message = ("%s timed out after %g s"):format(what, timeout)
  end
  return new_error(rc, message, fields)
end

-- Raises the failure of a completed op, if it failed.
local function op_check(op, what, timeout)
  local rc = c.uvs_op_result(op)
  if rc < 0 then
    error(op_error(op, rc, "", what, timeout))
  end
end

-- The stream an accept or connect op completed with (a raw handle).
local function take_stream(op)
  local rc, h = c.uvs_op_take_stream(op)
  check(rc)
  return h
end

-- Runs an operation that gives no value (drain, wait_closed, ...).
local function perform_check(own_op, what, timeout, start)
  perform(own_op, timeout, start, function(op)
    op_check(op, what, timeout)
  end)
end

-- ---- options and TLS configurations --------------------------------------

local INT_OPTIONS = {
  limit = true, write_high = true, write_low = true, nodelay = true,
  family = true, backlog = true, reuse_address = true, reuse_port = true,
  start_serving = true, cleanup_socket = true, direct_reads = true,
}
local SECONDS_OPTIONS = { ssl_handshake_timeout = true, ssl_shutdown_timeout = true }
-- Keys the Lua layer itself reads from an options table.
local LAYER_OPTIONS = { timeout = true }

local Options = { __name = "uvstreams.Options" }
Options.__close = function(o) c.uvs_options_free(o.h) end

local function set_option(h, key, value)
  if INT_OPTIONS[key] then
    if type(value) == "boolean" then
      value = value and 1 or 0
    end
    local n = math.tointeger(value)
    if not n then
      raise(c.UVS_EINVAL, ("option '%s' must be an integer"):format(key))
    end
    check(c.uvs_options_set_int(h, key, n))
  elseif SECONDS_OPTIONS[key] then
    check(c.uvs_options_set_int(h, key, to_ms(value)))
  elseif key == "server_hostname" then
    check(c.uvs_options_set_str(h, key, tostring(value)))
  elseif key == "tls" then
    local tls = value == true and M.tls_config() or value
    if getmetatable(tls) ~= M.TLSConfig then
      raise(c.UVS_EINVAL, "option 'tls' must be true or a TLS configuration")
    end
    check(c.uvs_options_set_tls(h, tls.h))
  elseif not LAYER_OPTIONS[key] then
    raise(c.UVS_EINVAL, ("unknown option '%s'"):format(tostring(key)))
  end
end

-- A blocking API: streams are read by the thread that waits for them (the
-- engine's direct_reads), unless t says otherwise.
local function fill_options(h, t)
  check(c.uvs_options_set_int(h, "direct_reads", 1))
  for key, value in pairs(t or {}) do
    set_option(h, key, value)
  end
end

-- The C options made from a Lua table (or nil), for a <close> variable.
local function options(t)
  local rc, h = c.uvs_options_new()
  check(rc)
  local ok, err = pcall(fill_options, h, t)
  if not ok then
    c.uvs_options_free(h)
    error(err, 0)
  end
  return setmetatable({ h = h }, Options)
end

local TLSConfig = { __name = "uvstreams.TLSConfig" }
TLSConfig.__index = TLSConfig
TLSConfig.__gc = function(t) c.uvs_tls_config_free(t.h) end
M.TLSConfig = TLSConfig

local VERIFY = {
  none = c.UVS_TLS_VERIFY_NONE,
  optional = c.UVS_TLS_VERIFY_OPTIONAL,
  required = c.UVS_TLS_VERIFY_REQUIRED,
}
local VERSIONS = { ["TLSv1.2"] = c.UVS_TLS1_2, ["TLSv1.3"] = c.UVS_TLS1_3 }

local function version(name)
  if name == nil then
    return 0
  end
  return VERSIONS[name] or raise(c.UVS_EINVAL, "unknown TLS version " .. tostring(name))
end

-- Each key of a TLS configuration table: how it is applied.
local TLS_SETTERS = {
  server = function() end,
  verify = function(h, v)
    check(c.uvs_tls_config_set_verify(h, VERIFY[v] or raise(c.UVS_EINVAL,
      "verify must be 'none', 'optional' or 'required'")))
  end,
  cafile = function(h, v) check(c.uvs_tls_config_load_ca_file(h, v)) end,
  capath = function(h, v) check(c.uvs_tls_config_load_ca_dir(h, v)) end,
  ca_pem = function(h, v) check(c.uvs_tls_config_load_ca_pem(h, v)) end,
  certfile = function(h, v, t)
    check(c.uvs_tls_config_load_cert_file(h, v, t.keyfile, t.password))
  end,
  cert_pem = function(h, v, t)
    check(c.uvs_tls_config_load_cert_pem(h, v, t.key_pem or v, t.password))
  end,
  keyfile = function() end, -- with certfile
  key_pem = function() end, -- with cert_pem
  password = function() end, -- with certfile / cert_pem
  alpn = function(h, v)
    check(c.uvs_tls_config_set_alpn(h, type(v) == "table" and table.concat(v, ",") or v))
  end,
  min_version = function(h, v, t)
    check(c.uvs_tls_config_set_versions(h, version(v), version(t.max_version)))
  end,
  max_version = function(h, v, t)
    if t.min_version == nil then
      check(c.uvs_tls_config_set_versions(h, 0, version(v)))
    end
  end,
  ciphers = function(h, v) check(c.uvs_tls_config_set_ciphers(h, v)) end,
}

--- A TLS configuration: {server = bool, verify = "none"|"optional"|
--- "required", cafile, capath, ca_pem, certfile, keyfile, password,
--- cert_pem, key_pem, alpn = "h2,http/1.1" or {...}, min_version,
--- max_version ("TLSv1.2"/"TLSv1.3"), ciphers}. Clients verify the server
--- by default (system store plus the CAs given).
-- @tparam table t
-- @return a TLS configuration, for the tls option of connect and listen
function M.tls_config(t)
  t = t or {}
  local rc, h = c.uvs_tls_config_new(t.server and c.UVS_TLS_SERVER or c.UVS_TLS_CLIENT)
  check(rc)
  local config = setmetatable({ h = h, server = not not t.server }, TLSConfig)
  for key, value in pairs(t) do
    local set = TLS_SETTERS[key] or raise(c.UVS_EINVAL, ("unknown TLS setting '%s'"):format(tostring(key)))
    set(h, value, t)
  end
  return config
end

-- ---- streams -------------------------------------------------------------

--- A connection, or a standalone reader (`reader`). Methods without a
-- result return the stream; streams are to-be-closed values (`<close>`).
-- @type Stream
local Stream = { __name = "uvstreams.Stream" }
Stream.__index = Stream
M.Stream = Stream

local function new_stream(h)
  local ok, op = pcall(new_op)
  if not ok then
    c.uvs_stream_free(h)
    error(op, 0)
  end
  return setmetatable({ _h = h, _op = op }, Stream)
end

function Stream:__gc()
  c.uvs_op_free(self._op)
  c.uvs_stream_free(self._h)
end

function Stream:__close()
  self:close()
end

function Stream:__tostring()
  local kind = self:get_extra_info("kind") or "?"
  local state = self:is_closing() and "closing" or "open"
  return ("uvstreams.Stream(%s %s, %s)"):format(kind, self:get_extra_info("peername") or "-", state)
end

--- Default timeout (seconds, nil: for ever) of the stream's waiting calls.
function Stream:settimeout(seconds)
  to_ms(seconds)
  self.timeout = seconds
  return self
end

local function timeout_of(self, timeout)
  if timeout == nil then
    return self.timeout
  end
  return timeout
end

-- Runs a read started by start(h, ..., op) and returns its bytes.
local function read(self, what, timeout, start, ...)
  timeout = timeout_of(self, timeout)
  local args = table.pack(self._h, ...)
  return perform(self._op, timeout, function(op)
    args[args.n + 1] = op
    return start(table.unpack(args, 1, args.n + 1))
  end, function(op)
    local rc, data = c.uvs_op_read_result(op)
    if rc < 0 then
      error(op_error(op, rc, data, what, timeout))
    end
    return data
  end)
end

--- read(n): up to n bytes once any are there; n < 0 or nil: until EOF;
--- "" at EOF.
-- @tparam[opt] integer n
-- @tparam[opt] number timeout seconds (default: the stream's, see settimeout)
-- @treturn string
function Stream:read(n, timeout)
  return read(self, "read", timeout, c.uvs_stream_read_start, n or -1)
end

--- readline(): a line with its "\n", or the last partial line at EOF ("" at
--- EOF). ELIMIT (the line is discarded) when longer than the limit.
-- @tparam[opt] number timeout seconds (default: the stream's, see settimeout)
-- @treturn string
function Stream:readline(timeout)
  return read(self, "readline", timeout, c.uvs_stream_readline_start)
end

--- readexactly(n): n bytes, or EINCOMPLETE (partial, expected) at EOF.
-- @tparam integer n
-- @tparam[opt] number timeout seconds (default: the stream's, see settimeout)
-- @treturn string
function Stream:readexactly(n, timeout)
  return read(self, "readexactly", timeout, c.uvs_stream_readexactly_start, n)
end

--- readuntil(sep): the data up to and including sep (a string, or a table
--- of strings: the earliest match wins). EINCOMPLETE (partial) at EOF,
--- ELIMIT (consumed; nothing removed) when the limit is overrun.
-- @tparam string|{string,...} sep
-- @tparam[opt] number timeout seconds (default: the stream's, see settimeout)
-- @treturn string
function Stream:readuntil(sep, timeout)
  sep = sep or "\n"
  if type(sep) == "table" then
    return read(self, "readuntil", timeout, c.uvs_stream_readuntil_any_start, sep)
  end
  return read(self, "readuntil", timeout, c.uvs_stream_readuntil_start, sep)
end

--- for line in stream:lines(timeout) do ... end: readline until EOF.
function Stream:lines(timeout)
  return function()
    local line = self:readline(timeout)
    if line ~= "" then
      return line
    end
  end
end

--- Whether the buffer is empty and the end of the stream was seen.
-- @treturn boolean
function Stream:at_eof()
  return check(c.uvs_stream_at_eof(self._h)) == 1
end

--- The stored error (asyncio's exception()) as an Error, or nil.
function Stream:exception()
  local rc = c.uvs_stream_error(self._h)
  return rc < 0 and new_error(rc) or nil
end

--- Buffers data for sending (never waits; see drain). Raises ECLOSED after
--- close/abort, EWRITEEOF after write_eof; after a loss of the connection
--- the data is dropped, as asyncio does (drain raises the error).
-- @tparam string data
-- @return the stream
function Stream:write(data)
  check(c.uvs_stream_write(self._h, data))
  return self
end

--- Writes a sequence of strings in one call.
function Stream:writelines(list)
  check(c.uvs_stream_writev(self._h, list))
  return self
end

--- Waits until the write buffer is down to the low watermark.
-- @tparam[opt] number timeout seconds (default: the stream's, see settimeout)
-- @return the stream
function Stream:drain(timeout)
  timeout = timeout_of(self, timeout)
  perform_check(self._op, "drain", timeout, function(op)
    return c.uvs_stream_drain_start(self._h, op)
  end)
  return self
end

--- Half-closes the sending side once the buffered bytes are sent.
-- @return the stream
function Stream:write_eof()
  check(c.uvs_stream_write_eof(self._h))
  return self
end

--- Whether the transport can half-close (TCP and Unix sockets can).
-- @treturn boolean
function Stream:can_write_eof()
  return check(c.uvs_stream_can_write_eof(self._h)) == 1
end

--- Bytes written and not yet handed to the kernel.
-- @treturn integer
function Stream:write_buffer_size()
  return check(c.uvs_stream_write_buffer_size(self._h))
end

--- high/low watermarks (nil: defaults, as asyncio's set_write_buffer_limits).
function Stream:set_write_limits(high, low)
  check(c.uvs_stream_set_write_limits(self._h, high or -1, low or -1))
  return self
end

--- Upgrades to TLS (client or server as the configuration says); opts:
--- server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout, timeout.
function Stream:start_tls(tls, opts)
  opts = opts or {}
  local t = { tls = tls }
  for key, value in pairs(opts) do
    t[key] = value
  end
  local o <close> = options(t)
  local timeout = timeout_of(self, opts.timeout)
  perform_check(self._op, "start_tls", timeout, function(op)
    return c.uvs_stream_start_tls_start(self._h, o.h, op)
  end)
  return self
end

--- Graceful close: sends what was written, then closes. Never waits.
function Stream:close()
  c.uvs_stream_close(self._h)
  return self
end

--- Immediate close: drops the write buffer, resets a TCP connection.
function Stream:abort()
  c.uvs_stream_abort(self._h)
  return self
end

--- Whether close or abort was called (or the connection was lost).
-- @treturn boolean
function Stream:is_closing()
  return c.uvs_stream_is_closing(self._h) == 1
end

--- Waits until the stream is closed; raises the error that closed it.
function Stream:wait_closed(timeout)
  timeout = timeout_of(self, timeout)
  perform_check(self._op, "wait_closed", timeout, function(op)
    return c.uvs_stream_wait_closed_start(self._h, op)
  end)
  return self
end

local INT_INFO = {
  fd = true, family = true, ["peer.port"] = true, ["sock.port"] = true,
  limit = true, write_high = true, write_low = true, write_buffer_size = true,
  read_buffer_size = true, loop = true, nodelay = true, tls = true,
  ["tls.resumed"] = true, ["tls.verified"] = true, direct_reads = true,
}

--- Extra information by the C API's key ("peername", "sock.port",
--- "tls.version", ...): an integer or a string, nil when it does not apply.
function Stream:get_extra_info(key)
  local rc, value
  if INT_INFO[key] then
    rc, value = c.uvs_stream_get_int(self._h, key)
  elseif key == "tls.peer_cert_der" then
    rc, value = c.uvs_stream_get_bytes(self._h, key)
  else
    rc, value = c.uvs_stream_get_str(self._h, key)
  end
  if rc == c.UVS_ENOENT then
    return nil
  end
  check(rc)
  return value
end

local function address(self, side)
  if self:get_extra_info("family") == 1 then
    return self:get_extra_info(side .. ".path")
  end
  return self:get_extra_info(side .. ".host"), self:get_extra_info(side .. ".port")
end

--- host, port of the peer (the path for a Unix socket).
function Stream:getpeername()
  return address(self, "peer")
end

--- host, port of the local end (the path for a Unix socket).
function Stream:getsockname()
  return address(self, "sock")
end

-- The standalone reader's feeding (asyncio's StreamReader.feed_*).
--- Standalone reader: appends data to the buffer.
-- @tparam string data
-- @return the stream
function Stream:feed_data(data)
  check(c.uvs_reader_feed_data(self._h, data))
  return self
end

--- Standalone reader: marks the end of the stream.
-- @return the stream
function Stream:feed_eof()
  check(c.uvs_reader_feed_eof(self._h))
  return self
end

--- Stores an error (a code, e.g. uvstreams.c.UVS_ECONNRESET) for readers.
function Stream:set_error(code)
  check(c.uvs_reader_set_error(self._h, code))
  return self
end

-- ---- opening streams ------------------------------------------------------

-- Opens a stream with start(op, options): connect's common part.
local function open(opts, what, start)
  local o <close> = options(opts)
  local timeout = opts and opts.timeout
  return new_stream(perform(nil, timeout, function(op)
    return start(op, o.h)
  end, function(op)
    local rc = c.uvs_op_result(op)
    if rc < 0 then
      local err = op_error(op, rc, "", what, timeout)
      -- the library names the connection itself, except for a TLS failure
      if rc ~= c.UVS_ETIMEDOUT and err.message:sub(1, #what + 1) ~= what .. ":" then
        err.message = what .. ": " .. err.message
      end
      error(err)
    end
    return take_stream(op)
  end))
end

--- A TCP connection; opts: timeout, limit, write_high, write_low, nodelay,
--- family (4/6), tls (true or a configuration), server_hostname,
--- ssl_handshake_timeout, ssl_shutdown_timeout.
-- @tparam string host
-- @tparam integer port
-- @tparam[opt] table opts
-- @treturn Stream
function M.connect(host, port, opts)
  return open(opts, ("connect to %s:%s"):format(host, port), function(op, o)
    return c.uvs_connect_tcp_start(engine(), host, port, o, op)
  end)
end

--- A Unix-socket connection (opts as connect; TLS needs server_hostname).
-- @tparam string path
-- @tparam[opt] table opts
-- @treturn Stream
function M.connect_unix(path, opts)
  return open(opts, "connect to " .. path, function(op, o)
    return c.uvs_connect_unix_start(engine(), path, o, op)
  end)
end

--- A standalone reader (feed_data/feed_eof, then the read methods); opts:
--- limit.
-- @tparam[opt] table opts
-- @treturn Stream
function M.reader(opts)
  local o <close> = options(opts)
  local rc, h = c.uvs_reader_new(engine(), o.h)
  check(rc)
  return new_stream(h)
end

-- ---- servers ---------------------------------------------------------------

--- A listening server: `accept` connections one at a time.
-- @type Server
local Server = { __name = "uvstreams.Server" }
Server.__index = Server
M.Server = Server

function Server:__gc()
  c.uvs_op_free(self._op)
  c.uvs_server_free(self._h)
end

function Server:__close()
  self:close()
end

local function new_server(rc, h)
  check(rc)
  local ok, op = pcall(new_op)
  if not ok then
    c.uvs_server_free(h)
    error(op, 0)
  end
  return setmetatable({ _h = h, _op = op }, Server)
end

--- Listens on host:port (host nil or "": every interface; port 0: a free
--- one); opts: limit, write_high, write_low, nodelay (for the accepted
--- streams), backlog, reuse_address, reuse_port, family, start_serving,
--- tls (a server configuration), ssl_handshake_timeout.
-- @tparam ?string host
-- @tparam integer port
-- @tparam[opt] table opts
-- @treturn Server
function M.listen(host, port, opts)
  local o <close> = options(opts)
  return new_server(c.uvs_server_listen_tcp(engine(), host, port or 0, o.h))
end

--- Listens on a Unix socket path (opts as listen, plus cleanup_socket).
-- @tparam string path
-- @tparam[opt] table opts
-- @treturn Server
function M.listen_unix(path, opts)
  local o <close> = options(opts)
  return new_server(c.uvs_server_listen_unix(engine(), path, o.h))
end

--- The next connection, as a Stream.
-- @tparam[opt] number timeout seconds (nil: for ever)
-- @treturn Stream
function Server:accept(timeout)
  return new_stream(perform(self._op, timeout, function(op)
    return c.uvs_server_accept_start(self._h, op)
  end, function(op)
    op_check(op, "accept", timeout)
    return take_stream(op)
  end))
end

--- The listening addresses: {host, port} pairs, or paths (Unix).
function Server:addresses()
  local list = {}
  for i = 0, check(c.uvs_server_num_addresses(self._h)) - 1 do
    local rc, host, port = c.uvs_server_address(self._h, i)
    if rc == 0 then
      list[#list + 1] = port < 0 and host or { host, port }
    end
  end
  return list
end

--- host, port of the first listening address (the path for Unix).
function Server:getsockname()
  local first = self:addresses()[1]
  if type(first) == "table" then
    return first[1], first[2]
  end
  return first
end

--- Starts accepting (for a server made with start_serving = false).
-- @return the server
function Server:start_serving()
  check(c.uvs_server_start_serving(self._h))
  return self
end

--- Whether the server is accepting connections.
-- @treturn boolean
function Server:is_serving()
  return check(c.uvs_server_is_serving(self._h)) == 1
end

--- Accepted connections not yet closed.
-- @treturn integer
function Server:num_clients()
  return check(c.uvs_server_num_clients(self._h))
end

--- Stops listening; accepted connections stay open.
function Server:close()
  c.uvs_server_close(self._h)
  return self
end

--- Closes every accepted connection gracefully (their buffered bytes are sent).
-- @return the server
function Server:close_clients()
  check(c.uvs_server_close_clients(self._h))
  return self
end

--- Aborts every accepted connection: unsent bytes are dropped.
-- @return the server
function Server:abort_clients()
  check(c.uvs_server_abort_clients(self._h))
  return self
end

--- Waits until the server is closed and has no client left.
function Server:wait_closed(timeout)
  perform_check(self._op, "wait_closed", timeout, function(op)
    return c.uvs_server_wait_closed_start(self._h, op)
  end)
  return self
end

-- ---- coroutines: many streams at once --------------------------------------

-- The scheduler of the engine, with its completion queue.
local function scheduler()
  engine()
  local sched = engine_box.sched
  if not sched.cq then
    local rc, cq = c.uvs_cq_new(engine_box.h)
    check(rc)
    sched.cq = cq
  end
  return sched
end

--- Starts fn(...) as a task of the scheduler: inside it, the waiting calls
--- of streams and servers (readline, drain, accept, connect, ...) suspend
--- the task instead of the process, with the same timeouts and errors.
--- Tasks spawned outside `run` start when it runs.
-- @tparam function fn
-- @return the task's coroutine
function M.spawn(fn, ...)
  local sched = scheduler()
  local args = table.pack(...)
  local co = coroutine.create(function()
    return fn(table.unpack(args, 1, args.n))
  end)
  sched.tasks[co] = true
  sched.count = sched.count + 1
  table.insert(sched.ready, co)
  return co
end

-- Resumes a task; a task that ends leaves, one that yielded without
-- waiting for an op is ready again. Raises the error a task failed with.
local function step(sched, co)
  local ok, err = coroutine.resume(co)
  if coroutine.status(co) == "dead" then
    sched.tasks[co] = nil
    sched.count = sched.count - 1
    if not ok then
      error(type(err) == "table" and err or debug.traceback(co, tostring(err)), 0)
    end
  elseif not sched.blocked[co] then
    table.insert(sched.ready, co)
  end
end

-- Runs the ready tasks, then waits on the completion queue (in slices, so
-- Ctrl-C gets through) for the ops the others wait for.
local function schedule(sched)
  while sched.count > 0 do
    local co = table.remove(sched.ready, 1)
    if co then
      step(sched, co)
    else
      local n, ops = c.uvs_cq_wait(sched.cq, SLICE_MS, 64)
      check(n)
      for i = 1, n do
        local op = ops[i]
        co = sched.waiting[op]
        sched.waiting[op] = nil
        sched.blocked[co] = nil
        step(sched, co)
      end
    end
  end
end

-- After a failure: cancels the ops of the tasks left, waits until the queue
-- delivered them (a read gives its bytes back), and forgets the tasks.
local function abandon(sched)
  for op in pairs(sched.waiting) do
    c.uvs_op_cancel(op)
  end
  while next(sched.waiting) do
    local n, ops = c.uvs_cq_wait(sched.cq, -1, 64)
    for i = 1, math.max(n, 0) do
      c.uvs_op_unread(ops[i])
      sched.waiting[ops[i]] = nil
      table.insert(sched.free, ops[i])
    end
  end
  sched.ready, sched.tasks, sched.blocked, sched.count = {}, {}, {}, 0
end

--- Runs fn(...) as a task, and every task spawned, until all have ended;
--- returns fn's results. The process sleeps in the completion queue while
--- every task waits. An error in any task ends the run (the other tasks
--- are cancelled) and is raised again here: wrap a connection's code in
--- pcall to keep the server going.
-- @tparam function fn
-- @return the results of fn
function M.run(fn, ...)
  local sched = scheduler()
  if sched.running then
    error("uvstreams.run is already running", 2)
  end
  local results
  local args = table.pack(...)
  M.spawn(function()
    results = table.pack(fn(table.unpack(args, 1, args.n)))
  end)
  sched.running = true
  local ok, err = pcall(schedule, sched)
  sched.running = false
  if not ok then
    abandon(sched)
    error(err, 0)
  end
  return table.unpack(results, 1, results.n)
end

return M
