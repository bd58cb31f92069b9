package io.uvstreams;

/**
 * Serves one accepted connection, on a thread of its own ({@link
 * Server#start}); the stream is closed when the handler returns.
 */
@FunctionalInterface
public interface StreamHandler {
  /** Handles the connection; an exception goes to the server's error
   * handler ({@link Server#setErrorHandler}).
   *
   * @param stream the accepted connection
   * @throws Exception anything; it goes to the server's error handler
   */
  void handle(Stream stream) throws Exception;
}
