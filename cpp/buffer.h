/*
 * buffer.h - a contiguous byte buffer with a movable head.
 *
 * Reads consume from the head without moving memory; appends go to the tail
 * and compact only when the tail runs out of room. Memory is allocated on
 * first use (an idle stream owns none) and never zero-filled. swap() lets a
 * read that takes the whole buffer hand its storage to the operation instead
 * of copying it: the echo fast path then costs no copy at all.
 */
#pragma once

#include <cstddef>
#include <memory>

namespace uvs {

class ByteBuffer {
public:
  size_t size() const { return tail_ - head_; }
  bool empty() const { return head_ == tail_; }
  const char *data() const { return mem_.get() + head_; }
  size_t capacity() const { return cap_; }
  /* Bytes that fit without allocating (after moving the data to the front). */
  size_t room() const { return cap_ - size(); }

  /* Room for at least n bytes after the tail; returns where to write. */
  char *reserve_tail(size_t n);
  /* Bytes written after reserve_tail() become part of the buffer. */
  void commit(size_t n) { tail_ += n; }
  void append(const void *p, size_t n);
  void prepend(const void *p, size_t n);
  void assign(const void *p, size_t n);
  /* Drops n bytes from the head. */
  void consume(size_t n);
  /* Moves the first n bytes into out (swapping storage when n == size()). */
  void take(size_t n, ByteBuffer &out);
  void clear() { head_ = tail_ = 0; }
  /* Gives the memory back. */
  void release();
  void swap(ByteBuffer &other);

private:
  void grow(size_t need);

  std::unique_ptr<char[]> mem_;
  size_t cap_ = 0, head_ = 0, tail_ = 0;
};

} // namespace uvs
