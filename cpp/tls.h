/*
 * tls.h - TLS on OpenSSL 3 memory BIOs: configurations and sessions.
 *
 * A TlsConfig wraps one SSL_CTX. Setters apply to it at once (so a bad file
 * or key is reported by the setter), and the first connection that uses the
 * config freezes it: later setters fail, since SSL objects already made
 * from the context must not see it change.
 *
 * An adopted TlsConfig (adopt) wraps an SSL_CTX its owner made and keeps
 * configuring: the engine holds a reference (SSL_CTX_up_ref) and reads the
 * context's state live at each SSL_new, never changes it (per-SSL settings
 * only), refuses every setter, and calls the owner's release callback once
 * it no longer uses the context, so that whatever the context's callbacks
 * point into (a Python SSLContext) lives exactly as long as needed.
 *
 * A TlsSession is the OpenSSL state of one stream. It never does I/O: the
 * stream hands it the ciphertext it receives (feed_ciphertext), asks it for
 * plaintext (read_plaintext), gives it plaintext to encrypt (write) and
 * collects the ciphertext to send (take_output). All of it runs under the
 * owning stream's mutex, so the session needs no lock of its own and the
 * stream's writer can encrypt on whichever thread calls write().
 */
#pragma once

#include "buffer.h"
#include "common.h"

#include <mutex>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace uvs {

class TlsConfig {
public:
  static int create(int side, std::shared_ptr<TlsConfig> *out);
  /* See uvs_tls_config_adopt. */
  static int adopt(int side, void *ssl_ctx, void (*release)(void *),
                   void *release_arg, std::shared_ptr<TlsConfig> *out);
  ~TlsConfig();

  bool server() const { return server_; }
  int set_verify(int mode);
  int load_ca_file(const char *path);
  int load_ca_dir(const char *path);
  int load_ca_pem(const void *pem, size_t len);
  int load_cert_file(const char *cert, const char *key, const char *password);
  int load_cert_pem(const void *cert, size_t cert_len, const void *key,
                    size_t key_len, const char *password);
  int set_alpn(const char *protocols);
  int set_versions(int min_version, int max_version);
  int set_ciphers(const char *list);

  /* Freezes the config and returns its context. */
  SSL_CTX *use();
  /* UVS_TLS_VERIFY_*; an adopted context's current mode. */
  int verify_mode() const;

private:
  TlsConfig() = default;
  int check_mutable();

  std::mutex mu_;
  SSL_CTX *ctx_ = nullptr;
  bool server_ = false;
  bool frozen_ = false;
  int verify_ = 0;
  bool adopted_ = false;
  void (*release_)(void *) = nullptr;
  void *release_arg_ = nullptr;
  std::vector<unsigned char> alpn_wire_; /* length-prefixed list */

  friend int alpn_select(SSL *, const unsigned char **, unsigned char *,
                         const unsigned char *, unsigned, void *);
};

/* The path of the libssl the engine runs on ("" if unknown). */
const char *openssl_library_path();

class TlsSession {
public:
  enum class Step { Done, WantInput, Failed };

  /* hostname: SNI and, with check_name, the name to verify ("" sends no
   * SNI and checks no name). */
  static int create(const std::shared_ptr<TlsConfig> &config,
                    const std::string &hostname, bool check_name,
                    std::unique_ptr<TlsSession> *out);
  ~TlsSession();

  bool handshaking() const { return !established_; }
  Step handshake();
  void feed_ciphertext(const char *data, size_t len);
  /* Decrypts what it can into out. Failed: fatal error; *eof set when the
   * peer's close_notify arrived. */
  Step read_plaintext(ByteBuffer &out, bool *eof);
  /* Encrypts all of data (memory BIOs never refuse). */
  int write(const char *data, size_t len);
  /* Queues close_notify. */
  void shutdown();
  /* Moves pending ciphertext to out; true if there was any. */
  bool take_output(ByteBuffer &out);

  /* The error of a failed step: code (UVS_ETLS, UVS_ETLSVERIFY, ...) and
   * OpenSSL's reason. */
  int error() const { return error_; }
  const std::string &error_detail() const { return detail_; }

  /* Extra info (see uvs_stream_get_str/get_int/get_bytes). */
  int get_str(const std::string &key, std::string *out) const;
  int get_int(const std::string &key, int64_t *out) const;
  int peer_cert_der(std::vector<unsigned char> *out) const;

private:
  TlsSession() = default;
  Step fail_from_openssl(int ret);

  std::shared_ptr<TlsConfig> config_;
  SSL *ssl_ = nullptr;
  BIO *in_ = nullptr;  /* ciphertext received, read by OpenSSL */
  BIO *out_ = nullptr; /* ciphertext produced, to be sent */
  bool established_ = false;
  bool verifies_ = false; /* the peer's certificate is checked */
  int error_ = 0;
  std::string detail_;
};

} // namespace uvs
