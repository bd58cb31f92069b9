/*
 * buffer.cpp - see buffer.h.
 */
#include "buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace uvs {

void ByteBuffer::grow(size_t need) {
  size_t used = size();
  if (head_ > 0 && used + need <= cap_) {
    if (used)
      memmove(mem_.get(), mem_.get() + head_, used);
    head_ = 0;
    tail_ = used;
    return;
  }
  /* The first allocation is exact: an idle stream keeps only what it got. */
  size_t ncap = std::max<size_t>(cap_ * 2, used + need);
  std::unique_ptr<char[]> nmem(new char[ncap]);
  if (used)
    memcpy(nmem.get(), mem_.get() + head_, used);
  mem_ = std::move(nmem);
  cap_ = ncap;
  head_ = 0;
  tail_ = used;
}

char *ByteBuffer::reserve_tail(size_t n) {
  if (cap_ - tail_ < n)
    grow(n);
  return mem_.get() + tail_;
}

void ByteBuffer::append(const void *p, size_t n) {
  if (!n)
    return;
  memcpy(reserve_tail(n), p, n);
  tail_ += n;
}

void ByteBuffer::prepend(const void *p, size_t n) {
  if (!n)
    return;
  if (head_ >= n) {
    head_ -= n;
    memcpy(mem_.get() + head_, p, n);
    return;
  }
  ByteBuffer joined;
  joined.reserve_tail(n + size());
  joined.append(p, n);
  joined.append(data(), size());
  swap(joined);
}

void ByteBuffer::assign(const void *p, size_t n) {
  clear();
  append(p, n);
}

void ByteBuffer::consume(size_t n) {
  head_ += std::min(n, size());
  if (head_ == tail_)
    head_ = tail_ = 0;
}

void ByteBuffer::take(size_t n, ByteBuffer &out) {
  n = std::min(n, size());
  if (n == size()) {
    swap(out);
    clear();
    return;
  }
  out.assign(data(), n);
  consume(n);
}

void ByteBuffer::release() {
  mem_.reset();
  cap_ = head_ = tail_ = 0;
}

void ByteBuffer::swap(ByteBuffer &other) {
  std::swap(mem_, other.mem_);
  std::swap(cap_, other.cap_);
  std::swap(head_, other.head_);
  std::swap(tail_, other.tail_);
}

} // namespace uvs
