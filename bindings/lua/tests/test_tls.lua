-- test_tls.lua - TLS clients against an in-process TLS server whose
-- self-signed certificate (CN and SAN localhost / 127.0.0.1) is made at
-- test time with the openssl command; the certificate is its own CA.
local T = require "testlib"
local uvs = require "uvstreams"

local WAIT = 5

local dir = os.tmpname()
os.remove(dir)
local CERT, KEY = dir .. "/cert.pem", dir .. "/key.pem"

local function make_certificate()
  assert(os.execute("mkdir -m 700 " .. dir))
  local ok = os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
    .. " -nodes -days 2 -subj /CN=localhost"
    .. " -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
    .. " -keyout %s -out %s 2>/dev/null"):format(KEY, CERT))
  T.truthy(ok, "openssl req")
end

local function tls_server()
  local server = uvs.listen("127.0.0.1", 0, {
    tls = uvs.tls_config({ server = true, certfile = CERT, keyfile = KEY }),
  })
  return server, select(2, server:getsockname())
end

T.test("tls: make a certificate with openssl", make_certificate)

T.test("tls: a client verifying with a CA file talks to a TLS server", function()
  local server, port = tls_server()
  local client = uvs.connect("127.0.0.1", port, {
    timeout = WAIT, tls = uvs.tls_config({ cafile = CERT }), server_hostname = "localhost",
  }):settimeout(WAIT)
  local peer = server:accept(WAIT):settimeout(WAIT)
  client:write("over tls\n"):drain()
  T.eq(peer:readline(), "over tls\n")
  peer:write("and back\n"):drain()
  T.eq(client:readline(), "and back\n")
  T.truthy(client:get_extra_info("tls.version"):match("^TLSv1%.[23]$"), "tls.version")
  T.eq(client:get_extra_info("tls"), 1)
  T.eq(client:get_extra_info("tls.verified"), 1)
  T.truthy(client:get_extra_info("tls.peer.subject"):find("CN=localhost", 1, true), "subject")
  T.truthy(#client:get_extra_info("tls.peer_cert_der") > 100, "the DER certificate")
  client:close():wait_closed()
end)

T.test("tls: the host connected to is the name verified by default", function()
  local _, port = tls_server()
  local client = uvs.connect("127.0.0.1", port, {
    timeout = WAIT, tls = uvs.tls_config({ cafile = CERT, alpn = { "h2", "http/1.1" } }),
  })
  T.eq(client:get_extra_info("tls.verified"), 1)
end)

T.test("tls: an unknown CA fails verification", function()
  local _, port = tls_server()
  local err = T.raises("ETLSVERIFY", uvs.connect, "127.0.0.1", port,
    { timeout = WAIT, tls = true, server_hostname = "localhost" })
  T.truthy(err.message ~= "", "the reason is given")
end)

T.test("tls: a wrong host name fails verification", function()
  local _, port = tls_server()
  T.raises("ETLSVERIFY", uvs.connect, "127.0.0.1", port, {
    timeout = WAIT, tls = uvs.tls_config({ cafile = CERT }), server_hostname = "example.com",
  })
end)

T.test("tls: verify = none accepts any certificate", function()
  local _, port = tls_server()
  local client = uvs.connect("127.0.0.1", port, {
    timeout = WAIT, tls = uvs.tls_config({ verify = "none" }),
  })
  T.eq(client:get_extra_info("tls.verified"), 0)
end)

T.test("tls: configuration errors", function()
  T.raises("EINVAL", uvs.tls_config, { no_such_setting = 1 })
  T.raises("EINVAL", uvs.tls_config, { verify = "sometimes" })
  T.raises("EINVAL", uvs.tls_config, { min_version = "SSLv3" })
  local err = T.raises("ETLS", uvs.tls_config, { cafile = dir .. "/missing.pem" })
  T.truthy(err.message:find("missing.pem", 1, true), "the message names the file")
end)

T.test("tls: remove the certificate", function()
  os.remove(CERT)
  os.remove(KEY)
  T.truthy(os.remove(dir), "rmdir")
end)
