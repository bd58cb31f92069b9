--[[
testlib.lua - the small test framework of the Lua binding's suites.

Design: Lua ships no test framework and the binding needs only a few
things, so this is one table: test(name, fn) registers a test in order,
run(label) runs them all (each under xpcall, with a traceback; the garbage
is collected after each test so that a test's streams and servers are
released before the next), prints "ok <name>" or "FAIL <name>: <error>"
and a summary, and exits non-zero when a test failed or none was
registered. Assertions raise ordinary errors with a description.
]]

local T = { tests = {} }

function T.test(name, fn)
  T.tests[#T.tests + 1] = { name = name, fn = fn }
end

local function show(v)
  if type(v) == "string" then
    return ("%q"):format(#v > 200 and v:sub(1, 200) .. "..." or v)
  end
  return tostring(v)
end

function T.eq(actual, expected, what)
  if actual ~= expected then
    error(("%s: expected %s, got %s"):format(what or "value", show(expected), show(actual)), 2)
  end
end

function T.truthy(v, what)
  if not v then
    error((what or "condition") .. " is false", 2)
  end
  return v
end

--- Calls fn(...), which must raise an uvstreams error named name; returns it.
function T.raises(name, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then
    error(("expected %s, but the call succeeded"):format(name), 2)
  end
  if type(err) ~= "table" or err.name ~= name then
    error(("expected %s, got %s"):format(name, tostring(err)), 2)
  end
  return err
end

local function traceback(err)
  return debug.traceback(tostring(err), 2)
end

--- Runs every registered test; exits with the suite's status.
function T.run(label)
  local failed = 0
  for _, t in ipairs(T.tests) do
    local ok, err = xpcall(t.fn, traceback)
    collectgarbage()
    if ok then
      print("ok " .. t.name)
    else
      failed = failed + 1
      print(("FAIL %s: %s"):format(t.name, err))
    end
    io.stdout:flush()
  end
  local total = #T.tests
  print(("%s: %d passed, %d failed"):format(label, total - failed, failed))
  if total == 0 then
    io.stderr:write(label .. ": no test was found\n")
  end
  os.exit(failed == 0 and total > 0, true)
end

return T
