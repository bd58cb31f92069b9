/*
 * tls.cpp - see tls.h.
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstring>

namespace uvs {

namespace {
/* The reason of the most recent OpenSSL error, and clears the queue. */
std::string openssl_reason(const char *fallback) {
  unsigned long e = ERR_peek_last_error();
  std::string reason =
      e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown"
        : fallback;
  ERR_clear_error();
  return reason;
}

int fail_tls(const std::string &what) {
  return fail(UVS_ETLS, what + ": " + openssl_reason("error"));
}

struct PasswordArg {
  const char *password;
};

int password_cb(char *buf, int size, int, void *u) {
  auto *arg = static_cast<PasswordArg *>(u);
  if (!arg || !arg->password)
    return 0;
  int n = int(strlen(arg->password));
  if (n > size)
    n = size;
  memcpy(buf, arg->password, size_t(n));
  return n;
}

/* Owning wrappers so that every early return frees what it made. */
struct BioFree {
  void operator()(BIO *b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509 *x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

std::string name_line(X509_NAME *name) {
  BioPtr mem(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(mem.get(), name, 0, XN_FLAG_RFC2253);
  char *p;
  long n = BIO_get_mem_data(mem.get(), &p);
  return std::string(p, size_t(n));
}

std::string asn1_time(const ASN1_TIME *t) {
  BioPtr mem(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(mem.get(), t);
  char *p;
  long n = BIO_get_mem_data(mem.get(), &p);
  return std::string(p, size_t(n));
}

/* "DNS:localhost,IP Address:127.0.0.1" */
std::string subject_alt_names(X509 *cert) {
  auto *names = static_cast<GENERAL_NAMES *>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string out;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    std::string item;
    if (g->type == GEN_DNS) {
      item = "DNS:" + std::string(reinterpret_cast<const char *>(
                                      ASN1_STRING_get0_data(g->d.dNSName)),
                                  size_t(ASN1_STRING_length(g->d.dNSName)));
    } else if (g->type == GEN_IPADD) {
      char buf[INET6_ADDRSTRLEN] = "";
      int len = ASN1_STRING_length(g->d.iPAddress);
      const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
      inet_ntop(len == 16 ? AF_INET6 : AF_INET, ip, buf, sizeof buf);
      item = std::string("IP Address:") + buf;
    } else {
      continue;
    }
    out += (out.empty() ? "" : ",") + item;
  }
  GENERAL_NAMES_free(names);
  return out;
}
} // namespace

/* ---- configuration --------------------------------------------------------
 */

int TlsConfig::create(int side, std::shared_ptr<TlsConfig> *out) {
  if (side != UVS_TLS_CLIENT && side != UVS_TLS_SERVER)
    return fail(UVS_EINVAL, "side must be UVS_TLS_CLIENT or UVS_TLS_SERVER");
  std::shared_ptr<TlsConfig> c(new TlsConfig());
  c->server_ = side == UVS_TLS_SERVER;
  c->ctx_ = SSL_CTX_new(c->server_ ? TLS_server_method() : TLS_client_method());
  if (!c->ctx_)
    return fail_tls("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!c->server_) {
    /* Clients verify by default, against the system trust store. */
    SSL_CTX_set_default_verify_paths(c->ctx_);
    c->set_verify(UVS_TLS_VERIFY_REQUIRED);
  }
  *out = std::move(c);
  return 0;
}

int TlsConfig::adopt(int side, void *ssl_ctx, void (*release)(void *),
                     void *release_arg, std::shared_ptr<TlsConfig> *out) {
  if (side != UVS_TLS_CLIENT && side != UVS_TLS_SERVER)
    return fail(UVS_EINVAL, "side must be UVS_TLS_CLIENT or UVS_TLS_SERVER");
  if (!ssl_ctx)
    return fail(UVS_EINVAL, "ssl_ctx is NULL");
  auto *ctx = static_cast<SSL_CTX *>(ssl_ctx);
  const SSL_METHOD *method = SSL_CTX_get_ssl_method(ctx);
  if (side == UVS_TLS_SERVER ? method == TLS_client_method()
                             : method == TLS_server_method())
    return fail(UVS_EINVAL, side == UVS_TLS_SERVER
                                ? "a client-only SSL_CTX cannot serve"
                                : "a server-only SSL_CTX cannot connect");
  if (SSL_CTX_up_ref(ctx) != 1)
    return fail_tls("SSL_CTX_up_ref");
  std::shared_ptr<TlsConfig> c(new TlsConfig());
  c->ctx_ = ctx;
  c->server_ = side == UVS_TLS_SERVER;
  c->adopted_ = true;
  c->frozen_ = true;
  c->release_ = release;
  c->release_arg_ = release_arg;
  *out = std::move(c);
  return 0;
}

TlsConfig::~TlsConfig() {
  SSL_CTX_free(ctx_);
  if (release_)
    release_(release_arg_);
}

int TlsConfig::verify_mode() const {
  if (!adopted_)
    return verify_;
  int flags = SSL_CTX_get_verify_mode(ctx_);
  if (!(flags & SSL_VERIFY_PEER))
    return UVS_TLS_VERIFY_NONE;
  return flags & SSL_VERIFY_FAIL_IF_NO_PEER_CERT ? UVS_TLS_VERIFY_REQUIRED
                                                 : UVS_TLS_VERIFY_OPTIONAL;
}

int TlsConfig::check_mutable() {
  if (adopted_)
    return fail(UVS_EINVAL, "an adopted SSL_CTX is configured by its owner");
  if (frozen_)
    return fail(UVS_EINVAL, "TLS configuration is in use and cannot change");
  return 0;
}

const char *openssl_library_path() {
  static const std::string path = [] {
    Dl_info info{};
    void *symbol = reinterpret_cast<void *>(&SSL_CTX_new);
    return dladdr(symbol, &info) && info.dli_fname ? std::string(info.dli_fname)
                                                   : std::string();
  }();
  return path.c_str();
}

SSL_CTX *TlsConfig::use() {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = true;
  return ctx_;
}

int TlsConfig::set_verify(int mode) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  int flags;
  switch (mode) {
  case UVS_TLS_VERIFY_NONE:
    flags = SSL_VERIFY_NONE;
    break;
  case UVS_TLS_VERIFY_OPTIONAL:
    flags = SSL_VERIFY_PEER;
    break;
  case UVS_TLS_VERIFY_REQUIRED:
    flags = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    break;
  default:
    return fail(UVS_EINVAL, "unknown verify mode");
  }
  SSL_CTX_set_verify(ctx_, flags, nullptr);
  verify_ = mode;
  return 0;
}

int TlsConfig::load_ca_file(const char *path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!path)
    return fail(UVS_EINVAL, "path is NULL");
  if (SSL_CTX_load_verify_locations(ctx_, path, nullptr) != 1)
    return fail_tls(std::string("load CA file ") + path);
  return 0;
}

int TlsConfig::load_ca_dir(const char *path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!path)
    return fail(UVS_EINVAL, "path is NULL");
  if (SSL_CTX_load_verify_locations(ctx_, nullptr, path) != 1)
    return fail_tls(std::string("load CA directory ") + path);
  return 0;
}

int TlsConfig::load_ca_pem(const void *pem, size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!pem || !len)
    return fail(UVS_EINVAL, "empty PEM data");
  BioPtr bio(BIO_new_mem_buf(pem, int(len)));
  X509_STORE *store = SSL_CTX_get_cert_store(ctx_);
  int added = 0;
  while (X509 *raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509Ptr cert(raw);
    if (X509_STORE_add_cert(store, cert.get()) == 1)
      ++added;
  }
  ERR_clear_error(); /* the loop ends on "no start line" */
  if (!added)
    return fail(UVS_ETLS, "no certificate found in the CA PEM data");
  return 0;
}

int TlsConfig::load_cert_file(const char *cert, const char *key,
                              const char *password) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!cert)
    return fail(UVS_EINVAL, "certificate path is NULL");
  PasswordArg arg{password};
  SSL_CTX_set_default_passwd_cb(ctx_, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, &arg);
  int ok = SSL_CTX_use_certificate_chain_file(ctx_, cert) == 1 &&
           SSL_CTX_use_PrivateKey_file(ctx_, key ? key : cert,
                                       SSL_FILETYPE_PEM) == 1 &&
           SSL_CTX_check_private_key(ctx_) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, nullptr);
  if (!ok)
    return fail_tls(std::string("load certificate ") + cert);
  return 0;
}

int TlsConfig::load_cert_pem(const void *cert, size_t cert_len, const void *key,
                             size_t key_len, const char *password) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!cert || !cert_len)
    return fail(UVS_EINVAL, "empty certificate PEM data");
  if (!key || !key_len) { /* as with files: the key follows the chain */
    key = cert;
    key_len = cert_len;
  }
  BioPtr cbio(BIO_new_mem_buf(cert, int(cert_len)));
  X509Ptr leaf(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx_, leaf.get()) != 1)
    return fail_tls("certificate PEM");
  SSL_CTX_clear_chain_certs(ctx_);
  while (X509 *extra = PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr))
    SSL_CTX_add0_chain_cert(ctx_, extra); /* takes ownership */
  ERR_clear_error();
  PasswordArg arg{password};
  BioPtr kbio(BIO_new_mem_buf(key, int(key_len)));
  KeyPtr pkey(PEM_read_bio_PrivateKey(kbio.get(), nullptr, password_cb, &arg));
  if (!pkey || SSL_CTX_use_PrivateKey(ctx_, pkey.get()) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1)
    return fail_tls("private key PEM");
  return 0;
}

int alpn_select(SSL *, const unsigned char **out, unsigned char *outlen,
                const unsigned char *in, unsigned inlen, void *arg) {
  auto *c = static_cast<TlsConfig *>(arg);
  unsigned char *selected;
  if (SSL_select_next_proto(&selected, outlen, c->alpn_wire_.data(),
                            unsigned(c->alpn_wire_.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int TlsConfig::set_alpn(const char *protocols) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!protocols)
    return fail(UVS_EINVAL, "protocols is NULL");
  std::vector<unsigned char> wire;
  const char *p = protocols;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? size_t(end - p) : strlen(p);
    if (n == 0 || n > 255)
      return fail(UVS_EINVAL, "ALPN names must be 1 to 255 bytes");
    if (end && end[1] == '\0')
      return fail(UVS_EINVAL, "empty ALPN name at the end of the list");
    wire.push_back(static_cast<unsigned char>(n));
    wire.insert(wire.end(), p, p + n);
    p += n + (end ? 1 : 0);
  }
  if (wire.empty())
    return fail(UVS_EINVAL, "empty ALPN list");
  alpn_wire_ = wire;
  if (server_)
    SSL_CTX_set_alpn_select_cb(ctx_, alpn_select, this);
  else if (SSL_CTX_set_alpn_protos(ctx_, alpn_wire_.data(),
                                   unsigned(alpn_wire_.size())) != 0)
    return fail_tls("set ALPN");
  return 0;
}

int TlsConfig::set_versions(int min_version, int max_version) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  auto valid = [](int v) {
    return v == 0 || v == TLS1_2_VERSION || v == TLS1_3_VERSION;
  };
  if (!valid(min_version) || !valid(max_version) ||
      (min_version && max_version && min_version > max_version))
    return fail(UVS_EINVAL, "versions must be 0, 0x0303 (TLS 1.2) or 0x0304 "
                            "(TLS 1.3), min <= max");
  SSL_CTX_set_min_proto_version(ctx_,
                                min_version ? min_version : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx_, max_version);
  return 0;
}

int TlsConfig::set_ciphers(const char *list) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int rc = check_mutable())
    return rc;
  if (!list || SSL_CTX_set_cipher_list(ctx_, list) != 1)
    return fail_tls("cipher list");
  return 0;
}

/* ---- sessions -------------------------------------------------------------
 */

int TlsSession::create(const std::shared_ptr<TlsConfig> &config,
                       const std::string &hostname, bool check_name,
                       std::unique_ptr<TlsSession> *out) {
  std::unique_ptr<TlsSession> s(new TlsSession());
  s->config_ = config;
  s->ssl_ = SSL_new(config->use());
  s->in_ = BIO_new(BIO_s_mem());
  s->out_ = BIO_new(BIO_s_mem());
  if (!s->ssl_ || !s->in_ || !s->out_)
    return fail_tls("SSL_new");
  SSL_set_bio(s->ssl_, s->in_, s->out_); /* the SSL owns both BIOs now */
  /* Per SSL, so that an adopted context stays as its owner left it. */
  SSL_set_mode(s->ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  s->verifies_ = (SSL_get_verify_mode(s->ssl_) & SSL_VERIFY_PEER) != 0;
  if (config->server()) {
    SSL_set_accept_state(s->ssl_);
  } else {
    SSL_set_connect_state(s->ssl_);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, hostname.c_str(), ip) == 1 ||
                 inet_pton(AF_INET6, hostname.c_str(), ip) == 1;
    if (!hostname.empty() && !is_ip)
      SSL_set_tlsext_host_name(s->ssl_, hostname.c_str());
    if (!hostname.empty() && check_name && s->verifies_) {
      X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl_);
      int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, hostname.c_str())
                     : X509_VERIFY_PARAM_set1_host(param, hostname.c_str(), 0);
      if (ok != 1)
        return fail_tls("host name to verify");
    }
  }
  *out = std::move(s);
  return 0;
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

TlsSession::Step TlsSession::fail_from_openssl(int ret) {
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
    return Step::WantInput;
  long verify = SSL_get_verify_result(ssl_);
  if (!established_ && verify != X509_V_OK && verifies_) {
    error_ = UVS_ETLSVERIFY;
    detail_ = std::string("certificate verify failed: ") +
              X509_verify_cert_error_string(verify);
    ERR_clear_error();
  } else {
    error_ = UVS_ETLS;
    detail_ = openssl_reason(err == SSL_ERROR_SYSCALL ? "unexpected eof"
                                                      : "protocol error");
  }
  return Step::Failed;
}

TlsSession::Step TlsSession::handshake() {
  if (established_)
    return Step::Done;
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    established_ = true;
    return Step::Done;
  }
  return fail_from_openssl(ret);
}

void TlsSession::feed_ciphertext(const char *data, size_t len) {
  BIO_write(in_, data, int(len));
}

TlsSession::Step TlsSession::read_plaintext(ByteBuffer &out, bool *eof) {
  constexpr size_t kChunk = 16 * 1024;
  *eof = false;
  for (;;) {
    char *p = out.reserve_tail(kChunk);
    int n = SSL_read(ssl_, p, int(kChunk));
    if (n > 0) {
      out.commit(size_t(n));
      continue;
    }
    if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) {
      *eof = true;
      return Step::Done;
    }
    Step s = fail_from_openssl(n);
    return s == Step::WantInput ? Step::Done : s;
  }
}

int TlsSession::write(const char *data, size_t len) {
  while (len > 0) {
    int chunk = len > (1u << 30) ? 1 << 30 : int(len);
    int n = SSL_write(ssl_, data, chunk);
    if (n <= 0) {
      fail_from_openssl(n);
      return fail(error_ ? error_ : UVS_ETLS, "TLS write: " + detail_);
    }
    data += n;
    len -= size_t(n);
  }
  return 0;
}

void TlsSession::shutdown() {
  if (established_)
    SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsSession::take_output(ByteBuffer &out) {
  /* BIO_read takes an int: more than 2 GiB of ciphertext (a write of over
   * 2 GiB) comes out in several reads. */
  constexpr size_t kMaxRead = size_t(1) << 30;
  bool took = false;
  while (size_t pending = BIO_ctrl_pending(out_)) {
    size_t want = std::min(pending, kMaxRead);
    int n = BIO_read(out_, out.reserve_tail(want), int(want));
    if (n <= 0)
      break;
    out.commit(size_t(n));
    took = true;
  }
  return took;
}

int TlsSession::get_str(const std::string &key, std::string *out) const {
  if (key == "tls.version") {
    *out = SSL_get_version(ssl_);
  } else if (key == "tls.cipher") {
    *out = SSL_get_cipher_name(ssl_);
  } else if (key == "tls.alpn") {
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    if (!n)
      return fail(UVS_ENOENT, "no ALPN protocol was negotiated");
    out->assign(reinterpret_cast<const char *>(p), n);
  } else if (key.compare(0, 9, "tls.peer.") == 0) {
    X509Ptr cert(SSL_get1_peer_certificate(ssl_));
    if (!cert)
      return fail(UVS_ENOENT, "the peer sent no certificate");
    std::string field = key.substr(9);
    if (field == "subject")
      *out = name_line(X509_get_subject_name(cert.get()));
    else if (field == "issuer")
      *out = name_line(X509_get_issuer_name(cert.get()));
    else if (field == "san")
      *out = subject_alt_names(cert.get());
    else if (field == "not_before")
      *out = asn1_time(X509_get0_notBefore(cert.get()));
    else if (field == "not_after")
      *out = asn1_time(X509_get0_notAfter(cert.get()));
    else
      return fail(UVS_ENOENT, "unknown key '" + key + "'");
  } else {
    return fail(UVS_ENOENT, "unknown key '" + key + "'");
  }
  return 0;
}

int TlsSession::get_int(const std::string &key, int64_t *out) const {
  if (key == "tls.resumed")
    *out = SSL_session_reused(ssl_) ? 1 : 0;
  else if (key == "tls.verified")
    *out = SSL_get_verify_result(ssl_) == X509_V_OK &&
           SSL_get0_peer_certificate(ssl_) != nullptr;
  else
    return fail(UVS_ENOENT, "unknown key '" + key + "'");
  return 0;
}

int TlsSession::peer_cert_der(std::vector<unsigned char> *out) const {
  X509 *cert = SSL_get0_peer_certificate(ssl_);
  if (!cert)
    return fail(UVS_ENOENT, "the peer sent no certificate");
  int n = i2d_X509(cert, nullptr);
  if (n <= 0)
    return fail_tls("encode certificate");
  out->resize(size_t(n));
  unsigned char *p = out->data();
  i2d_X509(cert, &p);
  return 0;
}

} // namespace uvs
