--[[
conformance.lua - the Lua runner of the shared conformance scenarios
(tests/conformance/scenarios.txt; the contract is tests/conformance/FORMAT.md).

  sh tests/conformance/run.sh lua lua5.4 bindings/lua/tests/conformance.lua

Design: the file is parsed here, in Lua, into scenarios made of client
steps (the `peer` steps are the reference peer's business and are skipped);
each step is {verb, args, opts, expectation}. Each scenario is one test of
testlib (named after it, "ok"/"FAIL" lines and a summary, non-zero exit on a
failure or when no scenario was found). A step is a call of the uvstreams
blocking API through a table of small functions keyed by the verb; its
outcome (a value or an uvstreams.Error) is matched against the expectation.
Steps without timeout= use the 30 s safety timeout (the stream's default,
settimeout). The stream is closed at the end of every scenario.
]]

local T = require "testlib"
local uvs = require "uvstreams"

local SAFETY = 30 -- seconds

local function env(name)
  return os.getenv(name) or error(name .. " is not set: run through tests/conformance/run.sh", 0)
end

-- ---- parsing ----------------------------------------------------------------

local function percent(text)
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- A bytes token: "-" (empty), "*N:unit" (unit repeated N times), else
-- percent-encoded.
local function bytes(token)
  if token == "-" then
    return ""
  end
  local count, unit = token:match("^%*(%d+):(.*)$")
  if count then
    return percent(unit):rep(tonumber(count))
  end
  return percent(token)
end

local function int(token)
  return math.tointeger(tonumber(token)) or error("not an integer: " .. tostring(token), 0)
end

local function expectation(tokens)
  if #tokens == 0 or (#tokens == 1 and tokens[1] == "ok") then
    return { ok = true }
  end
  local kind = tokens[1]:match("^!(.+)$")
  if not kind then
    return { value = bytes(tokens[1]) }
  end
  local attrs = {}
  for i = 2, #tokens do
    local key, value = tokens[i]:match("^([^=]+)=(.*)$")
    attrs[key or error("bad attribute " .. tokens[i], 0)] = value
  end
  return { error = kind, attrs = attrs }
end

-- A step from its tokens (before "=>"): verb, positional args, key=value
-- options; `repeat N step...` nests the repeated step.
local function step(tokens, expect)
  local s = { verb = tokens[1], args = {}, opts = {}, expect = expect }
  if s.verb == "repeat" then
    s.count = int(tokens[2])
    s.inner = step(table.move(tokens, 3, #tokens, 1, {}), expect)
    return s
  end
  for i = 2, #tokens do
    local key, value = tokens[i]:match("^([^=]+)=(.*)$")
    if key then
      s.opts[key] = value
    else
      s.args[#s.args + 1] = tokens[i]
    end
  end
  return s
end

local function split(line)
  local tokens = {}
  for token in line:gmatch("%S+") do
    tokens[#tokens + 1] = token
  end
  return tokens
end

local function parse_step(line)
  local tokens, after = split(line), nil
  for i, token in ipairs(tokens) do
    if token == "=>" then
      after = table.move(tokens, i + 1, #tokens, 1, {})
      tokens = table.move(tokens, 1, i - 1, 1, {})
      break
    end
  end
  return step(tokens, expectation(after or {}))
end

local function parse(path)
  local scenarios, current = {}, nil
  local n = 0
  for raw in io.lines(path) do
    n = n + 1
    local line = raw:match("^%s*(.-)%s*$")
    local name = line:match("^scenario%s+(%S+)$")
    if name then
      current = { name = name, steps = {} }
      scenarios[#scenarios + 1] = current
    elseif line ~= "" and not line:match("^#") and not line:match("^peer%s") then
      if not current then
        error(("%s:%d: a step before the first scenario"):format(path, n), 0)
      end
      current.steps[#current.steps + 1] = parse_step(line)
    end
  end
  return scenarios
end

-- ---- steps --------------------------------------------------------------------

local function timeout(s)
  return s.opts.timeout and int(s.opts.timeout) / 1000
end

local function stream(ctx)
  return ctx.stream or error("no stream: the scenario must connect first", 0)
end

local function all_bytes(args)
  local list = {}
  for i, token in ipairs(args) do
    list[i] = bytes(token)
  end
  return list
end

local STEPS = {}

function STEPS.connect(ctx, s)
  local opts = { timeout = SAFETY }
  for _, key in ipairs({ "limit", "write_high", "write_low" }) do
    opts[key] = s.opts[key] and int(s.opts[key])
  end
  local unix = s.args[1] == "unix"
  ctx.stream = (unix and uvs.connect_unix(env("UVS_CONFORMANCE_UNIX"), opts)
    or uvs.connect(env("UVS_CONFORMANCE_HOST"), int(env("UVS_CONFORMANCE_PORT")), opts))
    :settimeout(SAFETY)
  ctx.stream:write("SCENARIO " .. ctx.name .. "\n"):drain()
end

function STEPS.connect_refused()
  uvs.connect(env("UVS_CONFORMANCE_HOST"), int(env("UVS_CONFORMANCE_CLOSED_PORT")),
    { timeout = SAFETY }):close()
end

function STEPS.write(ctx, s) stream(ctx):write(bytes(s.args[1])) end
function STEPS.writelines(ctx, s) stream(ctx):writelines(all_bytes(s.args)) end
function STEPS.drain(ctx, s) stream(ctx):drain(timeout(s)) end
function STEPS.write_eof(ctx) stream(ctx):write_eof() end
function STEPS.read(ctx, s) return stream(ctx):read(int(s.args[1]), timeout(s)) end
function STEPS.readline(ctx, s) return stream(ctx):readline(timeout(s)) end
function STEPS.readexactly(ctx, s) return stream(ctx):readexactly(int(s.args[1]), timeout(s)) end
function STEPS.readuntil(ctx, s) return stream(ctx):readuntil(bytes(s.args[1]), timeout(s)) end
function STEPS.readuntil_any(ctx, s) return stream(ctx):readuntil(all_bytes(s.args), timeout(s)) end

function STEPS.close(ctx, s)
  stream(ctx):close():wait_closed(timeout(s))
end

-- ---- expectations -----------------------------------------------------------------

-- FORMAT.md's error kinds: the uvstreams error names each stands for.
local KINDS = {
  incomplete = { EINCOMPLETE = true },
  limit_overrun = { ELIMIT = true },
  timeout = { ETIMEDOUT = true },
  refused = { ECONNREFUSED = true },
  reset = { ECONNRESET = true, EPIPE = true },
  invalid = { EINVAL = true },
}

local function show(v)
  if type(v) == "string" then
    return ("%q"):format(#v > 80 and v:sub(1, 80) .. "..." or v)
  end
  return tostring(v)
end

-- attr=value of an error: does err carry it (verb: the failed step's)?
local function attribute_matches(err, attr, value, verb)
  if attr == "partial" then
    return err.partial == bytes(value)
  elseif attr == "expected" then
    return err.expected == (value ~= "none" and int(value) or nil)
  elseif attr == "consumed" then
    return verb == "readline" or err.consumed == int(value)
  end
  error("unknown attribute " .. attr, 0)
end

local function check_error(expect, err, verb)
  local names = KINDS[expect.error] or error("unknown error kind !" .. expect.error, 0)
  if not uvs.is_error(err) then
    error(err, 0)
  end
  if not names[err.name] then
    error(("expected !%s, got %s"):format(expect.error, tostring(err)), 0)
  end
  for attr, value in pairs(expect.attrs) do
    if not attribute_matches(err, attr, value, verb) then
      error(("!%s: expected %s=%s, got %s"):format(expect.error, attr, value,
        show(err[attr])), 0)
    end
  end
end

local function perform(ctx, s)
  local run = STEPS[s.verb] or error("unknown step " .. tostring(s.verb), 0)
  local ok, result = pcall(run, ctx, s)
  local expect = s.expect
  if expect.error then
    if ok then
      error(("%s: expected !%s, got success %s"):format(s.verb, expect.error, show(result)), 0)
    end
    check_error(expect, result, s.verb)
  elseif not ok then
    error(("%s: %s"):format(s.verb, tostring(result)), 0)
  elseif expect.value and result ~= expect.value then
    error(("%s: expected %s, got %s"):format(s.verb, show(expect.value), show(result)), 0)
  end
end

local function perform_all(ctx, steps)
  for i, s in ipairs(steps) do
    local ok, err = pcall(function()
      for _ = 1, s.count or 1 do
        perform(ctx, s.inner or s)
      end
    end)
    if not ok then
      error(("step %d: %s"):format(i, tostring(err)), 0)
    end
  end
end

local function play(scenario)
  local ctx = { name = scenario.name }
  local ok, err = pcall(perform_all, ctx, scenario.steps)
  if ctx.stream and not ctx.stream:is_closing() then
    ctx.stream:close()
    pcall(ctx.stream.wait_closed, ctx.stream, 5)
  end
  if not ok then
    error(err, 0)
  end
end

-- ---- main ---------------------------------------------------------------------------

local only = os.getenv("UVS_CONFORMANCE_ONLY")
for _, scenario in ipairs(parse(env("UVS_CONFORMANCE_SCENARIOS"))) do
  if not only or only == scenario.name then
    T.test(scenario.name, function() play(scenario) end)
  end
end
T.run("conformance lua")
